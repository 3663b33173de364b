"""x86 devices and firmware tables: COM1 8250 UART, i8042, CMOS RTC, console input,
MP table, and the boot structures finalised once every image is in memory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmm import hookimpl

from . import layout as m

if TYPE_CHECKING:
    from vmm.core.config import Config
    from vmm.core.vm import Vm


@hookimpl
def vmm_dev_init(vm: Vm) -> None:
    """COM1 (8250 UART on IRQ 4) writing to the console, fed from stdin when it is a
    terminal or pipe, the i8042 whose reset ends the VM with status 0, and the CMOS
    real-time clock giving the host's UTC time."""
    from vmm.core.devices.console_input import start_serial_input
    from vmm.core.devices.uart8250 import REGISTER_COUNT, Uart8250

    from .i8042 import COMMAND, I8042
    from .irqchip import x86_irqchip
    from .rtc import Rtc
    from .state import x86_state

    irqchip = x86_irqchip(vm)
    uart = Uart8250(vm.write_console, lambda level: irqchip.set_level(m.COM1_IRQ, level))
    vm.pio.register(m.COM1_PORT, REGISTER_COUNT, uart, owner="com1")
    keyboard = I8042(lambda: vm.request_stop(0), irqchip.set_level)
    vm.pio.register(m.I8042_DATA_PORT, COMMAND + 1, keyboard, owner="i8042")
    rtc = Rtc()
    vm.pio.register(m.RTC_INDEX_PORT, Rtc.SIZE, rtc, owner="rtc")
    devices = x86_state(vm).devices
    devices.update(uart=uart, i8042=keyboard, rtc=rtc)
    start_serial_input(vm, uart.feed_input)


@hookimpl
def vmm_dev_exit(vm: Vm) -> None:
    """Stop the console reader and give the terminal back its settings."""
    from vmm.core.devices.console_input import stop_serial_input

    stop_serial_input(vm)
    vm.pio.unregister(m.COM1_PORT)
    vm.pio.unregister(m.I8042_DATA_PORT)
    vm.pio.unregister(m.RTC_INDEX_PORT)


@hookimpl
def vmm_firmware_init(vm: Vm) -> None:
    """Write the MP table (how the guest finds its CPUs and IOAPIC) and finish the
    kernel's boot structure (e820 map, command line, initrd)."""
    from .bootinfo import finish_boot_structures
    from .irqchip import x86_irqchip
    from .mptable import write_mptable

    write_mptable(vm.memory, len(vm.vcpus), x86_irqchip(vm).allocated)
    finish_boot_structures(vm)


@hookimpl
def vmm_virtio_transports(config: Config) -> tuple[str, ...]:
    """PCI only: x86 guests enumerate virtio devices on the PCI bus (kvmtool's x86
    default); nothing would tell a guest where virtio-mmio devices are."""
    return ("pci",)
