"""x86 devices and firmware tables: COM1 8250 UART, i8042, CMOS RTC, console input,
MP table, and the boot structures finalised once every image is in memory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmm import hookimpl

from . import layout as m

if TYPE_CHECKING:
    from vmm.core.vm import Vm


@hookimpl
def vmm_dev_init(vm: Vm) -> None:
    """COM1 (8250 UART on IRQ 4) writing to the console, fed from stdin when it is a
    terminal or pipe, the i8042 whose reset ends the VM with status 0, and the CMOS
    real-time clock giving the host's UTC time."""
    from vmm.core.devices.console_input import start_serial_input
    from vmm.core.devices.uart8250 import REGISTER_COUNT, Uart8250

    from .i8042 import COMMAND, I8042
    from .rtc import Rtc
    from .state import x86_state

    irqchip = vm.irqchip
    uart = Uart8250(vm.write_console, lambda level: irqchip.set_level(m.COM1_IRQ, level))
    vm.pio.register(m.COM1_PORT, REGISTER_COUNT, uart)
    keyboard = I8042(lambda: vm.request_stop(0), irqchip.set_level)
    vm.pio.register(m.I8042_DATA_PORT, COMMAND + 1, keyboard)
    rtc = Rtc()
    vm.pio.register(m.RTC_INDEX_PORT, Rtc.SIZE, rtc)
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
    from .mptable import write_mptable

    write_mptable(vm.memory, len(vm.vcpus), vm.irqchip.allocated)
    finish_boot_structures(vm)
