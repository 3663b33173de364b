"""The riscv interrupt controller facade on ``vm.irqchip``.

Devices (the UART here, virtio transports elsewhere) code against four methods:
``allocate() -> line``, ``set_level(line, level)``, ``irqfd(line, eventfd)`` and
``fdt_interrupt(line) -> list[int]`` (the ``interrupts`` cells of a device node; the
root node's ``interrupt-parent`` points at the controller). Two implementations:
KVM's in-kernel AIA (:mod:`.aia`) and a PLIC emulated in the VMM (:mod:`.plic_chip`),
chosen by :func:`.machine.choose_irqchip`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmm.core.errors import ConfigError, PluginError

if TYPE_CHECKING:
    from vmm.core.fdt import FdtBuilder
    from vmm.core.vm import Vm

#: Interrupt lines 1..NR_LINES (0 means "no interrupt" on both controllers).
NR_LINES = 63
#: ``#interrupt-cells`` trigger types (include/dt-bindings/interrupt-controller/irq.h).
IRQ_TYPE_EDGE_RISING = 1
IRQ_TYPE_LEVEL_HIGH = 4
#: The hart's S-mode external interrupt: the cpu-intc input a controller drives.
IRQ_S_EXT = 9


class RiscvIrqchip:
    """What both controllers share: line allocation and the facade's contract
    (:class:`~vmm.core.contracts.DeviceTreeIrqchip`)."""

    kind = "none"
    #: MSIs through the IMSIC aren't wired to KVM_SIGNAL_MSI: virtio-pci uses lines.
    supports_msi = False
    msi_devid = False

    def __init__(self, nr_lines: int = NR_LINES) -> None:
        self.nr_lines = nr_lines
        self._next_line = 1
        #: The phandle device nodes point at (set while the device tree is built).
        self.phandle = 0

    def allocate(self) -> int:
        """Hand out the next free interrupt line."""
        if self._next_line > self.nr_lines:
            raise ConfigError(
                f"all {self.nr_lines} riscv interrupt lines are taken; use fewer devices"
            )
        line = self._next_line
        self._next_line += 1
        return line

    def _check_line(self, line: int) -> None:
        if not 0 < line < self._next_line:
            raise ValueError(f"interrupt line {line} was not allocated")

    def set_level(self, line: int, level: int) -> None:
        """Drive ``line`` high (1) or low (0)."""
        raise NotImplementedError

    def irqfd(self, line: int, eventfd: int) -> None:
        """Make each write to ``eventfd`` pulse ``line``."""
        raise NotImplementedError

    def fdt_interrupt(self, line: int, edge: bool = False) -> list[int]:
        """The ``interrupts`` cells describing ``line`` in a device node (``edge``
        for a line pulsed through an irqfd)."""
        raise NotImplementedError

    def attach(self, vm: Vm) -> None:
        """Set the controller up once the vCPUs exist (dev_base stage)."""

    def fdt_nodes(self, fdt: FdtBuilder, cpu_intc: list[int]) -> None:
        """Write the controller's nodes; ``cpu_intc`` are the harts' intc phandles."""
        raise NotImplementedError

    def close(self) -> None:
        """Release threads and fds."""


def riscv_irqchip(vm: Vm) -> RiscvIrqchip:
    """``vm.irqchip`` as the RISC-V plugin's :class:`RiscvIrqchip` (AIA or PLIC; the
    generic contract lacks the device-tree members); a PluginError if it is anything
    else."""
    chip = vm.irqchip
    if not isinstance(chip, RiscvIrqchip):
        raise PluginError(f"vm.irqchip is {type(chip).__name__}, not a RISC-V interrupt "
                          "controller (vmm_create_irqchip has not run for this VM)")
    return chip
