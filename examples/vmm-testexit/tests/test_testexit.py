"""The test-exit devices against every architecture's model of KVM (any host).

Only vmm's pytest plugin is used: ``vmm_vm`` builds a VM with the installed plugins
(this one included), ``vmm_arch`` runs a test for x86, arm64 and riscv.
"""

from __future__ import annotations

import subprocess
import sys
from itertools import pairwise

import pytest
from vmm_testexit.device import FINISHER_FAIL, FINISHER_PASS, MMIO_SIZE
from vmm_testexit.hooks import DEFAULT_PORT, DT_COMPATIBLE, STATE

from vmm.core.errors import ConfigError

#: A range each architecture's own device already has: the bus refuses it.
TAKEN = {"x86": (0x3F8, "com1"), "arm64": (0x0100_0000, "uart"), "riscv": (0x0C00_0000, "aplic")}


def option(arch: str, value: int) -> dict[str, str]:
    """The option that places the device on ``arch`` (each exists only there)."""
    return {"testexit_port" if arch == "x86" else "testexit_addr": hex(value)}


def finish(vm, value: int) -> None:
    """The guest's write that ends the VM: ``out`` on x86, a 32-bit store elsewhere."""
    state = vm.vm.stash[STATE]
    if vm.arch == "x86":
        vm.pio_write(state.base, value, 1)
    else:
        vm.mmio_write(state.base, value, 4)


@pytest.mark.parametrize(("written", "status"), [(0x00, 1), (0x15, 0x2B), (0x7F, 0xFF)])
def test_x86_port_exits_as_isa_debug_exit(vmm_vm, written, status):
    vm = vmm_vm("x86").build()
    assert vm.vm.stash[STATE].base == DEFAULT_PORT
    finish(vm, written)
    assert vm.stopped and vm.exit_code == status


@pytest.mark.parametrize("arch", ["arm64", "riscv"])
@pytest.mark.parametrize(("written", "status"), [
    (FINISHER_PASS, 0), (FINISHER_FAIL | 7 << 16, 7), (FINISHER_FAIL | 0x1FF << 16, 0xFF)])
def test_mmio_register_exits_as_sifive_test(vmm_vm, arch, written, status):
    vm = vmm_vm(arch).build()
    finish(vm, written)
    assert vm.stopped and vm.exit_code == status


@pytest.mark.parametrize("arch", ["arm64", "riscv"])
def test_other_writes_do_not_stop_the_vm(vmm_vm, arch):
    vm = vmm_vm(arch).build()
    finish(vm, 0x1234)
    vm.mmio_write(vm.vm.stash[STATE].base + 4, FINISHER_PASS)
    assert not vm.stopped


@pytest.mark.parametrize("arch", ["arm64", "riscv"])
def test_allocated_range_is_in_the_device_tree_apart_from_every_other_device(vmm_vm, arch):
    vm = vmm_vm(arch, options={"rng": True, "virtio_transport": "mmio"}).build()
    base = vm.vm.stash[STATE].base
    tree = vm.device_tree()
    (node,) = tree.root.compatible("vmm,test-exit")
    assert node.strings("compatible") == list(DT_COMPATIBLE)
    assert node.reg() == [(base, MMIO_SIZE)]
    assert tree.root.u32("#address-cells") == tree.root.u32("#size-cells") == 2
    ranges = sorted(reg for other in tree.root.children if "reg" in other.properties
                    and other.parent is tree.root and other.name != "memory"
                    for reg in other.reg())
    assert (base, MMIO_SIZE) in ranges
    for (start, size), (next_start, _) in pairwise(ranges):
        assert start + size <= next_start, f"{start:#x}+{size:#x} overlaps {next_start:#x}"
    assert tree.root.compatible("virtio,mmio"), "the virtio-mmio device is there too"


def test_a_taken_range_is_refused_naming_both_owners(vmm_vm, vmm_arch):
    """One line, ``... of testexit overlaps ... reserved for uart``, no other stage run."""
    where, owner = TAKEN[vmm_arch]
    made = vmm_vm(vmm_arch, options=option(vmm_arch, where))
    with pytest.raises(ConfigError, match=rf"^[^\n]* of testexit overlaps [^\n]* for {owner}$"):
        made.build()
    assert made.stages.completed == []


def test_a_malformed_option_is_refused_at_the_factory_call(vmm_vm, vmm_arch):
    """vmm_validate_config runs when the VM is made, as vmm run does before building."""
    bad = "0x3" if vmm_arch == "x86" else "0x1001"
    with pytest.raises(ConfigError, match="must be a multiple of"):
        vmm_vm(vmm_arch, options={"testexit_port" if vmm_arch == "x86" else "testexit_addr": bad})


def test_device_leaves_its_bus_at_teardown(vmm_vm, vmm_arch):
    vm = vmm_vm(vmm_arch).build()
    base = vm.vm.stash[STATE].base
    vm.teardown()
    assert (vm.vm.pio if vmm_arch == "x86" else vm.vm.mmio).find(base) is None


@pytest.mark.parametrize(("arch", "shown", "hidden"), [
    ("x86", "--testexit-port", "--testexit-addr"),
    ("arm64", "--testexit-addr", "--testexit-port"),
    ("riscv", "--testexit-addr", "--testexit-port"),
])
def test_each_arch_has_only_its_option(arch, shown, hidden):
    result = subprocess.run([sys.executable, "-m", "vmm", "run", "--arch", arch, "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert shown in result.stdout and hidden not in result.stdout
