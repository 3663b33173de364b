"""The interrupt controller facade the x86 plugin sets on ``vm.irqchip``.

KVM's in-kernel irqchip (two 8259 PICs and an IOAPIC) owns the lines: ISA lines
0-15 reach both, lines 16-23 only the IOAPIC. Devices drive a line by level
(``set_level``), hand it an eventfd (``irqfd``) so KVM raises it without the VMM, or
ask for a free line (``allocate``). The same three methods are what any arch's
facade offers, so device code does not know the architecture.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, NamedTuple

from vmm.core.errors import ConfigError, PluginError
from vmm.core.kvm.fds import VmFd

if TYPE_CHECKING:
    from vmm.core.vm import Vm

#: IOAPIC pins handed out by :meth:`IrqChip.allocate` (ISA lines are fixed).
ALLOCATABLE_LINES = tuple(range(16, 24))


class AllocatedLine(NamedTuple):
    """A line given to a device, as the MP table describes it."""

    line: int
    level_triggered: bool
    active_low: bool


class IrqChip:
    """``set_level(line, level)``, ``irqfd(line, eventfd)``, ``allocate()``: an
    :class:`~vmm.core.contracts.Irqchip`."""

    #: The in-kernel local APICs take MSIs (KVM_SIGNAL_MSI, MSI routes).
    supports_msi = True
    #: Their MSIs carry no requester ID.
    msi_devid = False

    def __init__(self, vmfd: VmFd) -> None:
        self._vmfd = vmfd
        self._lock = threading.Lock()
        self.allocated: list[AllocatedLine] = []

    def set_level(self, line: int, level: int) -> None:
        """Drive ``line`` to ``level`` (0 or 1) with KVM_IRQ_LINE."""
        self._vmfd.irq_line(line, level)

    def irqfd(self, line: int, eventfd: int) -> None:
        """Let KVM raise ``line`` whenever ``eventfd`` is signalled (KVM_IRQFD)."""
        self._vmfd.irqfd(eventfd, line)

    def allocate(self, level_triggered: bool = True, active_low: bool = False) -> int:
        """A free interrupt line for a device (an IOAPIC pin above the ISA lines)."""
        with self._lock:
            used = {entry.line for entry in self.allocated}
            for line in ALLOCATABLE_LINES:
                if line not in used:
                    self.allocated.append(AllocatedLine(line, level_triggered, active_low))
                    return line
        raise ConfigError(
            f"too many devices need an interrupt line (x86 has {len(ALLOCATABLE_LINES)} free "
            "IOAPIC pins); use fewer devices"
        )


def x86_irqchip(vm: Vm) -> IrqChip:
    """``vm.irqchip`` as the x86 plugin's :class:`IrqChip` (the generic contract
    lacks the MP table's view of allocated lines); a PluginError if it is anything
    else."""
    chip = vm.irqchip
    if not isinstance(chip, IrqChip):
        raise PluginError(f"vm.irqchip is {type(chip).__name__}, not the x86 PIC/IOAPIC "
                          "(vmm_create_irqchip has not run for this VM)")
    return chip
