"""Interrupt lines for virtio transports, through the arch's irqchip facade.

The arch plugin puts an :class:`~vmm.core.contracts.Irqchip` on ``vm.irqchip``:
``allocate() -> line``, ``set_level(line, level)``, ``irqfd(line, eventfd)``, and on
device-tree arches ``fdt_interrupt(line)``.
A :class:`LineInterrupt` prefers an irqfd: the device's I/O thread then raises the
interrupt with one eventfd write, which KVM turns into a pulse on the line without a
trip through a vCPU thread (the device tree must describe such lines as edge
triggered). When the facade has no irqfd (or KVM refuses it) the line is driven as a
level instead: asserted while the device has something to report, deasserted when
the driver acknowledges.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from vmm.core.contracts import DeviceTreeIrqchip, Irqchip
from vmm.core.errors import ConfigError, VmmError

from .iothread import new_eventfd

if TYPE_CHECKING:
    from vmm.core.vm import Vm

log = logging.getLogger(__name__)


def require_irqchip(vm: Vm, what: str) -> Irqchip:
    """The VM's irqchip facade, or a one-line error naming what needed it."""
    chip = vm.irqchip
    if chip is None:
        raise ConfigError(
            f"{what} needs an interrupt line but the {vm.config.arch} plugin set no "
            "irqchip facade on vm.irqchip; use another virtio transport or no virtio device"
        )
    return chip


class LineInterrupt:
    """One interrupt line of a device, driven by irqfd pulses or by levels."""

    def __init__(self, chip: Irqchip, line: int, *, use_irqfd: bool = True) -> None:
        """Drive ``line`` of ``chip``; ``use_irqfd=False`` keeps it a level (PCI INTx)."""
        self.chip = chip
        self.line = line
        self.level = False
        self.eventfd: int | None = None
        if not use_irqfd:
            return
        eventfd = new_eventfd()
        try:
            chip.irqfd(line, eventfd)
        except (VmmError, OSError, NotImplementedError) as error:
            log.debug("irqfd for line %s refused (%s); driving it as a level", line, error)
            os.close(eventfd)
        else:
            self.eventfd = eventfd

    def assert_line(self) -> None:
        """The device has an interrupt to report (called from the I/O thread)."""
        if self.eventfd is not None:
            os.eventfd_write(self.eventfd, 1)
        elif not self.level:
            self.level = True
            self.chip.set_level(self.line, 1)

    def deassert_line(self) -> None:
        """The driver acknowledged everything: lower a level-driven line."""
        if self.eventfd is None and self.level:
            self.level = False
            self.chip.set_level(self.line, 0)

    def fdt_interrupt(self) -> list[int]:
        """The ``interrupts`` cells of this line, from the arch's facade.

        An irqfd line is pulsed, so it is described as edge triggered where the
        controller's cells carry a trigger type.
        """
        if not isinstance(self.chip, DeviceTreeIrqchip):
            raise TypeError(f"{type(self.chip).__name__} describes no device-tree interrupts")
        return list(self.chip.fdt_interrupt(self.line, edge=self.eventfd is not None))

    def close(self) -> None:
        if self.eventfd is not None:
            os.close(self.eventfd)
            self.eventfd = None
