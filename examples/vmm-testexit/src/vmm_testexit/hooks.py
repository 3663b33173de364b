"""The plugin's hooks: per-arch options, the device on its bus, its device-tree node.

x86 guests reach the port device with ``out``; arm64 and riscv guests find the MMIO
device in the device tree, at a range the plugin asks vmm to allocate unless
``--testexit-addr`` fixes one. A range that belongs to something else (the UART,
the interrupt controller, RAM, another plugin's device) is refused by the bus in
one line naming both owners.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from vmm import hookimpl
from vmm.core.errors import ConfigError
from vmm.core.stash import StashKey

from .device import MMIO_SIZE, PORT_SIZE, DebugExitPort, SifiveTest

if TYPE_CHECKING:
    from vmm.core.api import PluginBus
    from vmm.core.config import Config
    from vmm.core.fdt import FdtBuilder
    from vmm.core.options import OptionGroup
    from vmm.core.vm import Vm

#: The plugin's name (its entry point): the owner of its bus range.
PLUGIN = "testexit"
PORT_ARCHES = ("x86",)
MMIO_ARCHES = ("arm64", "riscv")
#: The port kvm-unit-tests gives QEMU's isa-debug-exit (``iobase=0xf4,iosize=0x4``).
DEFAULT_PORT = 0xF4
PORT_LIMIT = 0x1_0000
ADDR_LIMIT = 1 << 48
DT_COMPATIBLE = ("vmm,test-exit", "sifive,test0")


#: Where this VM's device sits, set in the dev stage.
STATE = StashKey["Placement"]()


class Placement(NamedTuple):
    """The bus, base and size of the device (``vm.stash[STATE]``)."""

    bus: PluginBus
    base: int
    size: int


@hookimpl
def vmm_addoption(group: OptionGroup) -> None:
    """One option per architecture: each exists only where it applies."""
    group.addoption("--testexit-port", metavar="PORT", arches=PORT_ARCHES,
                    help=f"I/O port of the isa-debug-exit device (default {DEFAULT_PORT:#x}).")
    group.addoption("--testexit-addr", metavar="ADDR", arches=MMIO_ARCHES,
                    help="MMIO base of the sifive_test device (default: a free 4 KiB range "
                         "vmm allocates; the guest finds it in the device tree).")


def _option(config: Config, dest: str) -> Any:
    return getattr(config.options_of(PLUGIN), dest)


def _number(config: Config, dest: str, size: int, limit: int) -> int | None:
    """The option ``dest`` as a number (decimal or 0x-hex), checked, or None."""
    value = _option(config, dest)
    if value is None:
        return None
    flag = "--" + dest.replace("_", "-")
    try:
        number = int(str(value), 0)
    except ValueError:
        raise ConfigError(f"{flag} {value!r} is not a number (use e.g. 0x1000)") from None
    if not 0 <= number <= limit - size or number % size:
        raise ConfigError(f"{flag} {number:#x} must be a multiple of {size:#x} below "
                          f"{limit:#x}")
    return number


def port(config: Config) -> int:
    """The x86 device's port."""
    chosen = _number(config, "testexit_port", PORT_SIZE, PORT_LIMIT)
    return DEFAULT_PORT if chosen is None else chosen


def address(config: Config) -> int | None:
    """The arm64/riscv device's fixed address, or None to have one allocated."""
    return _number(config, "testexit_addr", MMIO_SIZE, ADDR_LIMIT)


@hookimpl
def vmm_validate_config(config: Config) -> None:
    """Refuse a malformed option before anything is built."""
    if config.arch in PORT_ARCHES:
        port(config)
    elif config.arch in MMIO_ARCHES:
        address(config)


@hookimpl
def vmm_dev_init(vm: Vm) -> None:
    """The port device on x86, the MMIO device (allocated unless fixed) elsewhere."""
    if vm.config.arch in PORT_ARCHES:
        bus, base, size = vm.pio, port(vm.config), PORT_SIZE
        device: Any = DebugExitPort(vm.request_stop)
    elif vm.config.arch in MMIO_ARCHES:
        bus, base, size = vm.mmio, address(vm.config), MMIO_SIZE
        if base is None:
            base = bus.allocate(MMIO_SIZE, PLUGIN, align=MMIO_SIZE)
        device = SifiveTest(vm.request_stop)
    else:
        return
    bus.register(base, size, device, owner=PLUGIN)  # a taken range: one-line ConfigError
    vm.stash[STATE] = Placement(bus, base, size)
    vm.report.append(f"testexit: test-exit device on {bus.name} at {base:#x}")


@hookimpl
def vmm_dev_exit(vm: Vm) -> None:
    """Take the device off its bus (the stash goes with the VM)."""
    if STATE in vm.stash:
        vm.stash[STATE].bus.unregister(vm.stash[STATE].base)


@hookimpl
def vmm_device_tree(vm: Vm, fdt: FdtBuilder) -> None:
    """The MMIO device's node: ``reg`` in the root's cells (two and two)."""
    placed = vm.stash.get(STATE)
    if placed is not None and placed.bus is vm.mmio:
        _describe(fdt, placed)


def _describe(fdt: FdtBuilder, placed: Placement) -> None:
    with fdt.node(f"test@{placed.base:x}"):
        fdt.property_string_list("compatible", DT_COMPATIBLE)
        fdt.property_reg([(placed.base, placed.size)])
