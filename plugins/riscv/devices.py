"""The riscv board's own device: the 8250 UART (ns16550a) on the MMIO bus."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING


from .layout import UART
from .state import riscv_state

if TYPE_CHECKING:
    from vmm.core.vm import Vm


def add_uart(vm: Vm) -> None:
    """Put the UART at 0x3f8 of the MMIO space, on an interrupt line of its own."""
    from vmm.core.devices.uart8250 import Uart8250

    line = vm.irqchip.allocate()
    uart = Uart8250(output=vm.write_console, set_irq=partial(vm.irqchip.set_level, line))
    vm.mmio.register(UART.start, UART.size, uart, owner="uart")
    state = riscv_state(vm)
    state.uart, state.uart_line = uart, line
