"""The riscv board's devices: the irqchip set up for the vCPUs, the 8250 UART
(ns16550a) on the MMIO bus, and the device tree once every device exists."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from vmm import hookimpl

if TYPE_CHECKING:
    from vmm.core.config import Config
    from vmm.core.vm import Vm


@hookimpl
def vmm_dev_base_init(vm: Vm) -> None:
    """Configure the irqchip for the vCPUs that now exist (AIA: CTRL_INIT)."""
    from .irqchip import riscv_irqchip

    riscv_irqchip(vm).attach(vm)


@hookimpl
def vmm_dev_init(vm: Vm) -> None:
    """The 8250 UART at 0x3f8 of the MMIO space, on an interrupt line of its own."""
    from vmm.core.devices.uart8250 import Uart8250

    from .irqchip import riscv_irqchip
    from .layout import UART
    from .state import riscv_state

    chip = riscv_irqchip(vm)
    line = chip.allocate()
    uart = Uart8250(output=vm.write_console, set_irq=partial(chip.set_level, line))
    vm.mmio.register(UART.start, UART.size, uart, owner="uart")
    state = riscv_state(vm)
    state.uart, state.uart_line = uart, line


@hookimpl(trylast=True)
def vmm_late_init(vm: Vm) -> None:
    """Build the device tree once every device exists; place it at the top of RAM."""
    from .devicetree import place_device_tree

    place_device_tree(vm)


@hookimpl
def vmm_virtio_transports(config: Config) -> tuple[str, ...]:
    """virtio-mmio by default, described in the device tree (kvmtool's riscv
    default); PCI behind the ECAM host bridge on ``--virtio-transport pci``."""
    return ("mmio", "pci")
