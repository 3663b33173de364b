"""The debugport plugin against every architecture's model of KVM.

Only vmm's pytest plugin is used (``vmm_vm``, ``vmm_arch``): install this package
(``pip install -e .``) and run ``pytest``. Each test runs for x86, arm64 and riscv;
an architecture whose plugin has no model of KVM yet is skipped with that reason.
"""

from __future__ import annotations

import pytest
from vmm_debugport import EXIT_REGISTER, MAGIC, MAGIC_REGISTER
from vmm_debugport.features import ORDER_PLATFORM_BIT
from vmm_debugport.hooks import DEFAULT_PORT, DT_COMPATIBLE, STATE

from vmm.core.errors import ConfigError

PORT = 0x600
#: Free on arm64 (between pvtime and the flash) and riscv (between its I/O port window
#: and the interrupt controllers).
ADDR = {"arm64": 0x0180_0000, "riscv": 0x0100_0000}


def read(vm, offset: int, size: int = 4) -> int:
    """A guest read of the device's register at ``offset``: ``in`` on x86, a load elsewhere."""
    state = vm.vm.stash[STATE]
    if vm.arch == "x86":
        return vm.pio_read(state.base + offset, size)
    return vm.mmio_read(state.base + offset, size)


def write(vm, offset: int, value: int, size: int = 1) -> None:
    """A guest write to the device's register at ``offset``."""
    state = vm.vm.stash[STATE]
    if vm.arch == "x86":
        vm.pio_write(state.base + offset, value, size)
    else:
        vm.mmio_write(state.base + offset, value, size)


def test_magic_register_answers_a_guest_read(vmm_vm, vmm_arch):
    vm = vmm_vm(vmm_arch).build()
    assert read(vm, MAGIC_REGISTER) == MAGIC
    assert read(vm, MAGIC_REGISTER, size=1) == MAGIC & 0xFF
    assert read(vm, MAGIC_REGISTER + 2, size=2) == MAGIC >> 16
    assert not vm.stopped


@pytest.mark.parametrize("status", [0, 3, 42, 255])
def test_exit_register_ends_the_vm_with_the_chosen_status(vmm_vm, vmm_arch, status):
    vm = vmm_vm(vmm_arch).build()
    write(vm, EXIT_REGISTER, status)
    assert vm.stopped
    assert vm.exit_code == status


def option(vmm_arch: str, value: int) -> dict[str, str]:
    """The arch's address option (each exists only for its architectures)."""
    return {"debug_exit_port" if vmm_arch == "x86" else "debug_exit_addr": hex(value)}


def test_default_place_and_options_move_it(vmm_vm, vmm_arch):
    default = vmm_vm(vmm_arch).build()
    base = default.vm.stash[STATE].base
    if vmm_arch == "x86":
        assert base == DEFAULT_PORT
    else:  # allocated in the shared device window, and described in the device tree
        window = default.vm.layout.windows[default.vm.layout.device_window]
        assert window.start <= base < window.end
        (node,) = default.device_tree().root.compatible(DT_COMPATIBLE)
        assert node.reg() == [(base, 8)]

    where = PORT if vmm_arch == "x86" else ADDR[vmm_arch]
    moved = vmm_vm(vmm_arch, options=option(vmm_arch, where)).build()
    assert moved.vm.stash[STATE].base == where
    assert read(moved, MAGIC_REGISTER) == MAGIC


def test_a_taken_address_is_refused_naming_both_owners(vmm_vm, vmm_arch):
    taken = {"x86": 0x3F8, "arm64": 0x0100_0000, "riscv": 0x0C00_0000}[vmm_arch]
    owner = {"x86": "com1", "arm64": "uart", "riscv": "aplic"}[vmm_arch]
    vm = vmm_vm(vmm_arch, options=option(vmm_arch, taken))
    with pytest.raises(ConfigError) as caught:
        vm.build()
    message = str(caught.value)
    assert "debugport" in message and owner in message and "\n" not in message


def test_the_device_is_added_in_the_dev_stage_by_this_plugin(vmm_vm, vmm_arch):
    vm = vmm_vm(vmm_arch).build()
    assert "debugport" in vm.hooks_called("vmm_dev_init")
    assert any(line.startswith("debugport: debug-exit device") for line in vm.vm.report)


def test_blocked_plugin_leaves_the_address_unclaimed(vmm_vm, vmm_arch):
    vm = vmm_vm(vmm_arch, blocked=["debugport"]).build()
    assert "debugport" not in vm.hooks_called("vmm_dev_init")
    if vmm_arch == "x86":
        assert vm.pio_read(DEFAULT_PORT, 4) == 0xFFFF_FFFF  # an unclaimed port reads all ones
    else:
        assert not [w for w in vm.vm.mmio.windows() if w.owner == "debugport"]
        assert not vm.device_tree().root.compatible(DT_COMPATIBLE)
    assert STATE not in vm.vm.stash


def test_order_platform_bit_is_offered_only_when_asked(vmm_vm, vmm_arch):
    plain = vmm_vm(vmm_arch).build()
    assert plain.virtio_host_features() & ORDER_PLATFORM_BIT == 0
    asked = vmm_vm(vmm_arch, options={"virtio_order_platform": True}).build()
    assert asked.virtio_host_features() & ORDER_PLATFORM_BIT == ORDER_PLATFORM_BIT


@pytest.mark.parametrize(
    ("arch", "dest", "value", "message"),
    [
        ("x86", "debug_exit_port", "zero", "is not a number"),
        ("x86", "debug_exit_port", "0x10000", "out of range"),
        ("arm64", "debug_exit_addr", "0x1003", "multiple of 8"),
        ("riscv", "debug_exit_addr", "1 << 60", "is not a number"),
    ],
)
def test_bad_addresses_are_refused_with_one_line(vmm_vm, arch, dest, value, message):
    """Refused at the factory call: vmm_validate_config runs there, as in vmm run."""
    with pytest.raises(ConfigError, match=message) as caught:
        vmm_vm(arch, options={dest: value})
    assert "\n" not in str(caught.value)


def test_device_leaves_its_bus_at_teardown(vmm_vm, vmm_arch):
    vm = vmm_vm(vmm_arch).build()
    base = vm.vm.stash[STATE].base
    vm.teardown()
    bus = vm.vm.pio if vmm_arch == "x86" else vm.vm.mmio
    assert bus.find(base) is None
