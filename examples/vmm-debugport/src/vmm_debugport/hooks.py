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

#: The plugin's name (its entry point), under which vmm binds its options.
PLUGIN = "debugport"
DEFAULT_PORT = 0x500
DEFAULT_MMIO_ADDR = 0x0F00_0000
PORT_LIMIT = 0x1_0000
#: Guest physical addresses the device may use on arm64 and riscv (48 bits).
ADDR_LIMIT = 1 << 48
PIO_ARCHES = ("x86",)
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
        "--debug-exit-port", metavar="PORT",
        help=f"x86: I/O port base of the debug-exit device (default {DEFAULT_PORT:#x}).",
    )
    group.addoption(
        "--debug-exit-addr", metavar="ADDR",
        help=f"arm64/riscv: MMIO base of the debug-exit device (default {DEFAULT_MMIO_ADDR:#x}).",
    )
    group.addoption(
        "--virtio-order-platform", type=bool,
        help="Offer VIRTIO_F_ORDER_PLATFORM (bit 36) on every virtio device.",
    )


def _parse_number(config: Config, dest: str, flag: str, default: int, limit: int) -> int:
    value: Any = getattr(config.options_of(PLUGIN), dest)
    if value is None:
        return default
    try:
        number = value if isinstance(value, int) else int(str(value), 0)
    except ValueError:
        raise ConfigError(f"{flag} {value!r} is not a number (use e.g. {default:#x})") from None
    if not 0 <= number <= limit - REGISTERS_SIZE:
        raise ConfigError(f"{flag} {number:#x} is out of range (0 to {limit - REGISTERS_SIZE:#x})")
    if number % REGISTERS_SIZE:
        raise ConfigError(f"{flag} {number:#x} must be a multiple of {REGISTERS_SIZE}")
    return number


def debug_exit_port(config: Config) -> int:
    """``--debug-exit-port`` (decimal or 0x-hex), checked."""
    return _parse_number(config, "debug_exit_port", "--debug-exit-port", DEFAULT_PORT, PORT_LIMIT)


def debug_exit_addr(config: Config) -> int:
    """``--debug-exit-addr`` (decimal or 0x-hex), checked."""
    return _parse_number(config, "debug_exit_addr", "--debug-exit-addr", DEFAULT_MMIO_ADDR,
                         ADDR_LIMIT)


@hookimpl
def vmm_validate_config(config: Config) -> None:
    """Refuse bad addresses before anything is built (the options stay read-only:
    the dev stage parses them again)."""
    debug_exit_port(config)
    debug_exit_addr(config)


@hookimpl
def vmm_dev_init(vm: Vm) -> None:
    """Put the device on port I/O (x86) or MMIO (arm64, riscv)."""
    from vmm.core.bus import BusConflictError

    device = DebugExitDevice(vm.request_stop)
    if vm.config.arch in PIO_ARCHES:
        bus, base, flag = vm.pio, debug_exit_port(vm.config), "--debug-exit-port"
    else:
        bus, base, flag = vm.mmio, debug_exit_addr(vm.config), "--debug-exit-addr"
        _refuse_ram(vm, base, flag)
    try:
        bus.register(base, REGISTERS_SIZE, device)
    except BusConflictError as error:
        raise ConfigError(f"{flag} {base:#x}: {error}; choose another address") from None
    vm.stash[STATE] = DebugPortState(bus.name, base, device)
    vm.report.append(f"debugport: debug-exit device on {bus.name} at {base:#x}")


def _refuse_ram(vm: Vm, base: int, flag: str) -> None:
    assert vm.layout is not None
    for bank in vm.layout.banks:
        if base < bank.end and bank.start < base + REGISTERS_SIZE:
            raise ConfigError(
                f"{flag} {base:#x} is inside guest RAM ({bank.start:#x}-{bank.end - 1:#x}); "
                "choose an address outside it"
            )


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
    """Describe the MMIO device (two address and size cells, as arm64 and riscv use)."""
    state = vm.stash.get(STATE)
    if state is None or state.bus_name != vm.mmio.name:
        return
    with fdt.node(f"debug-exit@{state.base:x}"):
        fdt.property_string("compatible", DT_COMPATIBLE)
        fdt.property_cells("reg", [state.base >> 32, state.base & 0xFFFF_FFFF, 0, REGISTERS_SIZE])


@hookimpl
def vmm_virtio_host_features(vm: Vm, device: Any) -> int:
    """VIRTIO_F_ORDER_PLATFORM when --virtio-order-platform is given, else nothing."""
    return ORDER_PLATFORM_BIT if vm.config.options_of(PLUGIN).virtio_order_platform else 0
