"""The example plugin's device, option and feature bit, driven through ``vmm_vm``.

These run against a stand-in arch plugin for each architecture name, so they show
the example working on any host today, independently of the arch plugins' models
(its own tests, in examples/vmm-debugport/tests, use the real arch plugins). In
the virtual environment of test_plugin_authoring.py they import the installed
package; in the repository, its source.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from vmm.core.errors import ConfigError

from .standin_arch import DEVICE_WINDOW, RAM_START, standin_entries


def _import_example_source():
    """Import the example package from its source tree, without putting that tree on
    sys.path (where its packaging metadata could make it an installed plugin for
    every other test of the session)."""
    package_dir = Path(__file__).resolve().parents[2] / "examples/vmm-debugport/src/vmm_debugport"
    spec = importlib.util.spec_from_file_location(
        "vmm_debugport", package_dir / "__init__.py", submodule_search_locations=[str(package_dir)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["vmm_debugport"] = module
    spec.loader.exec_module(module)
    return module


try:
    import vmm_debugport
except ImportError:  # not installed: use the example's source tree
    vmm_debugport = _import_example_source()

# after the import above has found the package, installed or from its source
from vmm_debugport.features import ORDER_PLATFORM_BIT  # noqa: E402
from vmm_debugport.hooks import DEFAULT_PORT, STATE  # noqa: E402


@pytest.fixture
def debugport_vm(vmm_vm, vmm_arch):
    """A factory of stand-in VMs of ``vmm_arch`` with the debugport plugin loaded."""

    def factory(**kwargs):
        entries = standin_entries(vmm_arch, ("debugport", vmm_debugport))
        return vmm_vm(vmm_arch, entries=entries, **kwargs)

    return factory


def guest_read(vm, address: int, size: int) -> int:
    return vm.pio_read(address, size) if vm.arch == "x86" else vm.mmio_read(address, size)


def guest_write(vm, address: int, value: int, size: int) -> None:
    if vm.arch == "x86":
        vm.pio_write(address, value, size)
    else:
        vm.mmio_write(address, value, size)


def test_device_answers_the_magic_and_ends_the_vm_with_the_status(debugport_vm, vmm_arch):
    vm = debugport_vm().build()
    base = vm.vm.stash[STATE].base
    if vmm_arch == "x86":
        assert base == DEFAULT_PORT
    else:  # allocated at the start of the layout's shared device window
        assert base == DEVICE_WINDOW[vmm_arch].start
    assert guest_read(vm, base + vmm_debugport.MAGIC_REGISTER, 4) == vmm_debugport.MAGIC
    assert guest_read(vm, base + 1, 1) == (vmm_debugport.MAGIC >> 8) & 0xFF
    assert not vm.stopped
    guest_write(vm, base + vmm_debugport.EXIT_REGISTER, 0x2A, 1)
    assert vm.stopped and vm.exit_code == 0x2A
    assert vm.ioctl_names().count("KVM_RUN") == 3
    expected_kind = "io" if vmm_arch == "x86" else "mmio"
    assert [kind for kind, _, _ in vm.completed_reads()] == [expected_kind, expected_kind]
    with pytest.raises(AssertionError, match="already stopped with exit code 42"):
        guest_read(vm, base, 4)


def test_option_moves_the_device(debugport_vm, vmm_arch):
    dest = "debug_exit_port" if vmm_arch == "x86" else "debug_exit_addr"
    vm = debugport_vm(options={dest: "0x600" if vmm_arch == "x86" else "0x0e000000"})
    vm.build()
    base = 0x600 if vmm_arch == "x86" else 0x0E00_0000
    assert guest_read(vm, base, 4) == vmm_debugport.MAGIC
    assert "debugport: debug-exit device" in vm.vm.report[-1]


def test_blocked_plugin_does_nothing(debugport_vm, vmm_arch):
    vm = debugport_vm(blocked=["debugport"]).build()
    assert "debugport" not in vm.hooks_called("vmm_dev_init")
    if vmm_arch == "x86":
        assert vm.pio_read(DEFAULT_PORT, 4) == 0xFFFF_FFFF
    else:
        window = DEVICE_WINDOW[vmm_arch].start
        assert vm.vm.mmio.find(window) is None
        assert vm.mmio_read(window, 4) == 0  # unclaimed MMIO reads as zeros


def test_feature_bit_only_when_asked(debugport_vm):
    assert debugport_vm().build().virtio_host_features() == 0
    asked = debugport_vm(options={"virtio_order_platform": True}).build()
    assert asked.virtio_host_features() == ORDER_PLATFORM_BIT == 1 << 36


@pytest.mark.parametrize("vmm_arch", ["arm64", "riscv"])  # x86 uses port I/O
def test_mmio_device_inside_ram_is_refused(debugport_vm, vmm_arch):
    vm = debugport_vm(options={"debug_exit_addr": hex(RAM_START[vmm_arch] + 0x1000)})
    with pytest.raises(ConfigError, match="of debugport overlaps .* reserved for ram") as caught:
        vm.build()
    assert "--debug-exit-addr" in str(caught.value) and "\n" not in str(caught.value)
    assert vm.stages.completed == [], "the stages that completed were unwound"
