"""The plugin's hook implementations: options, validation, the device, a feature bit.

Everything goes through hooks from ``hookspecs.py``; the plugin's per-VM state
lives in the VM's typed stash under :data:`STATE`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vmm import hookimpl
from vmm.core.errors import ConfigError
from vmm.core.stash import StashKey

from .device import REGISTERS_SIZE, DebugExitDevice
from .features import ORDER_PLATFORM_BIT

if TYPE_CHECKING:
    from vmm.core.config import Config
    from vmm.core.fdt import FdtBuilder
    from vmm.core.options import OptionGroup
    from vmm.core.vm import Vm

#: The plugin's name (its entry point): the owner of its bus ranges.
PLUGIN = "debugport"
#: x86's default port base, 0xf00-0xf07: no PC device, nor QEMU (isa-debug-exit at
#: 0x501, pvpanic at 0x505, fw_cfg at 0x510, ACPI at 0x600 and 0xb000), kvmtool (its
#: PCI I/O BARs start at 0x6200) or Firecracker (COM ports, i8042) decodes it, so a
#: guest written for those machines never reaches this device by accident.
DEFAULT_PORT = 0x0F00
PORT_LIMIT = 0x1_0000
#: Guest physical addresses the device may use on arm64 and riscv (48 bits).
ADDR_LIMIT = 1 << 48
PIO_ARCHES = ("x86",)
MMIO_ARCHES = ("arm64", "riscv")
DT_COMPATIBLE = "vmm,debug-exit"


@dataclass
class DebugPortState:
    """Where this VM's debug device sits, and the device itself."""

    bus_name: str
    base: int
    device: DebugExitDevice


#: The plugin's per-VM state (``vm.stash[STATE]``), set in the dev stage.
STATE = StashKey[DebugPortState]()


@hookimpl
def vmm_addoption(group: OptionGroup) -> None:
    """Declare --debug-exit-port, --debug-exit-addr and --virtio-order-platform."""
    group.addoption(
        "--debug-exit-port", metavar="PORT", arches=PIO_ARCHES,
        help=f"I/O port base of the debug-exit device (default {DEFAULT_PORT:#x}).",
    )
    group.addoption(
        "--debug-exit-addr", metavar="ADDR", arches=MMIO_ARCHES,
        help="MMIO base of the debug-exit device (default: a free range vmm allocates; "
             "the guest finds it in the device tree).",
    )
    group.addoption(
        "--virtio-order-platform", type=bool,
        help="Offer VIRTIO_F_ORDER_PLATFORM (bit 36) on every virtio device.",
    )


def _parse_number(config: Config, dest: str, flag: str, default: int | None,
                  limit: int) -> int | None:
    value: Any = getattr(config.options_of(PLUGIN), dest)
    if value is None:
        return default
    try:
        number = value if isinstance(value, int) else int(str(value), 0)
    except ValueError:
        raise ConfigError(f"{flag} {value!r} is not a number (use e.g. 0xf00)") from None
    if not 0 <= number <= limit - REGISTERS_SIZE:
        raise ConfigError(f"{flag} {number:#x} is out of range (0 to {limit - REGISTERS_SIZE:#x})")
    if number % REGISTERS_SIZE:
        raise ConfigError(f"{flag} {number:#x} must be a multiple of {REGISTERS_SIZE}")
    return number


def debug_exit_port(config: Config) -> int:
    """``--debug-exit-port`` (decimal or 0x-hex), checked (x86 only)."""
    port = _parse_number(config, "debug_exit_port", "--debug-exit-port", DEFAULT_PORT, PORT_LIMIT)
    assert port is not None
    return port


def debug_exit_addr(config: Config) -> int | None:
    """``--debug-exit-addr`` (decimal or 0x-hex), checked, or None to have a range
    allocated (arm64, riscv)."""
    return _parse_number(config, "debug_exit_addr", "--debug-exit-addr", None, ADDR_LIMIT)


@hookimpl
def vmm_validate_config(config: Config) -> None:
    """Refuse bad addresses before anything is built (the options stay read-only:
    the dev stage parses them again)."""
    if config.arch in PIO_ARCHES:
        debug_exit_port(config)
    else:
        debug_exit_addr(config)


@hookimpl
def vmm_dev_init(vm: Vm) -> None:
    """Put the device on port I/O (x86) or MMIO (arm64, riscv: where asked, else in a
    range vmm allocates)."""
    from vmm.core.bus import BusConflictError

    device = DebugExitDevice(vm.request_stop)
    if vm.config.arch in PIO_ARCHES:
        bus, base, flag = vm.pio, debug_exit_port(vm.config), "--debug-exit-port"
    else:
        bus, base, flag = vm.mmio, debug_exit_addr(vm.config), "--debug-exit-addr"
        if base is None:
            base = bus.allocate(REGISTERS_SIZE, PLUGIN, align=REGISTERS_SIZE)
    try:
        bus.register(base, REGISTERS_SIZE, device, owner=PLUGIN)
    except BusConflictError as error:
        raise ConfigError(f"{flag} {base:#x}: {error}; choose another address") from None
    vm.stash[STATE] = DebugPortState(bus.name, base, device)
    vm.report.append(f"debugport: debug-exit device on {bus.name} at {base:#x}")


@hookimpl
def vmm_dev_exit(vm: Vm) -> None:
    """Take the device off its bus."""
    state = vm.stash.get(STATE)
    if state is not None:
        bus = vm.pio if state.bus_name == vm.pio.name else vm.mmio
        bus.unregister(state.base)
        del vm.stash[STATE]


@hookimpl
def vmm_device_tree(vm: Vm, fdt: FdtBuilder) -> None:
    """Describe the MMIO device (``reg`` in the root's cell sizes)."""
    state = vm.stash.get(STATE)
    if state is None or state.bus_name != vm.mmio.name:
        return
    with fdt.node(f"debug-exit@{state.base:x}"):
        fdt.property_string("compatible", DT_COMPATIBLE)
        fdt.property_reg([(state.base, REGISTERS_SIZE)])


@hookimpl
def vmm_virtio_host_features(vm: Vm, device: Any) -> int:
    """VIRTIO_F_ORDER_PLATFORM when --virtio-order-platform is given, else nothing."""
    return ORDER_PLATFORM_BIT if vm.config.options_of(PLUGIN).virtio_order_platform else 0
