"""The PLIC facade: the emulated PLIC on ``vm.mmio``, outputs delivered by KVM_INTERRUPT.

Without an in-kernel irqchip, KVM lets user space raise and lower a vCPU's external
interrupt with KVM_INTERRUPT (KVM_INTERRUPT_SET / KVM_INTERRUPT_UNSET), which riscv
KVM accepts from any thread while the vCPU runs. irqfds are served by an
:class:`~.eventfd_relay.EventfdRelay` that pulses the line.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from . import layout, uapi
from .eventfd_relay import EventfdRelay
from .irqchip import IRQ_S_EXT, RiscvIrqchip
from .plic import Plic
from .uapi import ffi

if TYPE_CHECKING:
    from vmm.core.fdt import FdtBuilder
    from vmm.core.kvm.fds import VcpuFd
    from vmm.core.vm import Vm


class PlicIrqchip(RiscvIrqchip):
    """The facade over :class:`~.plic.Plic`."""

    kind = "plic"

    def __init__(self) -> None:
        super().__init__()
        self.plic: Plic | None = None
        self._vcpu_fds: list[VcpuFd] = []
        self._relay: EventfdRelay | None = None
        # The two KVM_INTERRUPT arguments, allocated once (and their addresses).
        self._args = [ffi.new("struct kvm_interrupt *", {"irq": uapi.KVM_INTERRUPT_UNSET}),
                      ffi.new("struct kvm_interrupt *", {"irq": uapi.KVM_INTERRUPT_SET})]
        self._arg_addresses = [int(ffi.cast("uintptr_t", arg)) for arg in self._args]

    def attach(self, vm: Vm) -> None:
        """One context per hart; put the register space on the MMIO bus."""
        self._vcpu_fds = [vcpu.fd for vcpu in vm.vcpus]
        self.plic = Plic(self.nr_lines + 1, len(self._vcpu_fds), self._deliver)
        vm.mmio.register(layout.PLIC.start, self.register_space, self.plic, owner="plic")

    @property
    def register_space(self) -> int:
        """Bytes of MMIO the PLIC decodes (all of its window)."""
        return layout.PLIC.size

    def _deliver(self, context: int, level: bool) -> None:
        self._vcpu_fds[context].call(uapi.KVM_INTERRUPT, self._arg_addresses[level])

    def _plic(self) -> Plic:
        if self.plic is None:
            raise RuntimeError("the PLIC is used before the dev_base stage set it up")
        return self.plic

    # ------------------------------------------------------------ the facade

    def set_level(self, line: int, level: int) -> None:
        """Drive the PLIC source ``line``."""
        self._check_line(line)
        self._plic().set_level(line, level)

    def irqfd(self, line: int, eventfd: int) -> None:
        """Pulse source ``line`` on each eventfd write, from the relay thread."""
        self._check_line(line)
        plic = self._plic()
        if self._relay is None:
            self._relay = EventfdRelay("plic-irqfd")
        self._relay.add(eventfd, partial(plic.pulse, line))

    def fdt_interrupt(self, line: int, edge: bool = False) -> list[int]:
        """``<line>``: the PLIC has one interrupt cell (no trigger type, so ``edge``
        changes nothing)."""
        self._check_line(line)
        return [line]

    # ------------------------------------------------------------ device tree

    def fdt_nodes(self, fdt: FdtBuilder, cpu_intc: list[int]) -> None:
        """The PLIC node: one context per hart, on its S-mode external interrupt."""
        with fdt.node(f"interrupt-controller@{layout.PLIC.start:x}"):
            fdt.property_string_list("compatible", ["sifive,plic-1.0.0", "riscv,plic0"])
            fdt.property_cells("reg", layout.reg_cells(layout.PLIC.start, self.register_space))
            fdt.property_u32("#address-cells", 0)
            fdt.property_u32("#interrupt-cells", 1)
            fdt.property_empty("interrupt-controller")
            fdt.property_u32("riscv,ndev", self.nr_lines)
            fdt.property_cells("interrupts-extended",
                               [cell for phandle in cpu_intc for cell in (phandle, IRQ_S_EXT)])
            fdt.property_phandle(self.phandle)

    def close(self) -> None:
        """Stop the irqfd relay thread."""
        if self._relay is not None:
            self._relay.stop()
            self._relay = None
