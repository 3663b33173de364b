"""KVM's in-kernel AIA irqchip: an APLIC whose wired sources become MSIs to IMSICs.

The device (KVM_DEV_TYPE_RISCV_AIA) is created in the core stage. Once the vCPUs
exist (dev_base) vmm reads the mode and the number of MSI ids KVM chose, sets the
number of wired sources and the hart index bits, places the APLIC and one IMSIC page
per hart, then CTRL_INIT; from then on lines are driven with KVM_IRQ_LINE (whose
numbers are the APLIC's source numbers).

irqfds are not handed to KVM_IRQFD: riscv KVM serves an irqfd write in the eventfd's
wake-up by raising the source (its kvm_arch_set_irq_inatomic succeeds for level 1), so
the work item that would raise then lower it never runs; the source's input stays
high and a rising-edge source fires once, never again (measured: one interrupt per
virtio device, then a virtio-blk request that never completes). An :class:`~.eventfd_relay.EventfdRelay`
turns each write into a real pulse (KVM_IRQ_LINE 1 then 0) instead.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from vmm.core.kvm import ioctls as k
from vmm.core.kvm.fds import DeviceFd, VmFd

from . import layout, uapi
from .eventfd_relay import EventfdRelay
from .irqchip import IRQ_S_EXT, IRQ_TYPE_EDGE_RISING, IRQ_TYPE_LEVEL_HIGH, RiscvIrqchip
from .options import AIA_MODES, riscv_options
from .uapi import ffi

if TYPE_CHECKING:
    from vmm.core.fdt import FdtBuilder
    from vmm.core.vm import Vm


def hart_index_bits(nr_harts: int) -> int:
    """Bits of an IMSIC address that select the hart (0 for one hart)."""
    return (nr_harts - 1).bit_length()


class AiaIrqchip(RiscvIrqchip):
    """The facade over KVM's AIA device."""

    kind = "aia"

    def __init__(self, vmfd: VmFd, device: DeviceFd) -> None:
        super().__init__()
        self.vmfd = vmfd
        self.device: DeviceFd | None = device
        self.mode = 0
        self.nr_ids = 0
        self.nr_harts = 0
        self.imsic_phandle = 0
        self._edge_lines: set[int] = set()
        self._relay: EventfdRelay | None = None

    @classmethod
    def create(cls, vm: Vm) -> AiaIrqchip:
        """KVM_CREATE_DEVICE(RISCV_AIA); raises KvmError when KVM has none."""
        assert vm.vmfd is not None
        return cls(vm.vmfd, vm.vmfd.create_device(uapi.KVM_DEV_TYPE_RISCV_AIA))

    # ------------------------------------------------------------ device attributes

    def _set(self, group: int, attr: int, ctype: str, value: int | None = None) -> None:
        assert self.device is not None
        data = ffi.new(f"{ctype} *", value) if value is not None else None
        self.device.set_attr(group, attr, data)

    def _get_u32(self, group: int, attr: int) -> int:
        assert self.device is not None
        value = ffi.new("uint32_t *")
        arg = ffi.new("struct kvm_device_attr *")
        arg.group = group
        arg.attr = attr
        arg.addr = int(ffi.cast("uintptr_t", value))
        self.device.call(k.KVM_GET_DEVICE_ATTR, arg)
        return int(value[0])

    @staticmethod
    def imsic_address(hart: int) -> int:
        """The guest address of hart ``hart``'s IMSIC interrupt file."""
        return layout.IMSIC.start + hart * uapi.KVM_DEV_RISCV_IMSIC_SIZE

    def attach(self, vm: Vm) -> None:
        """Mode (when --aia-mode asks), sources, harts and addresses, then CTRL_INIT."""
        self.nr_harts = len(vm.vcpus)
        mode = riscv_options(vm.config).aia_mode
        if mode is not None:
            self._set(uapi.KVM_DEV_RISCV_AIA_GRP_CONFIG, uapi.KVM_DEV_RISCV_AIA_CONFIG_MODE,
                      "uint32_t", AIA_MODES.index(mode))
        self.mode = self._get_u32(uapi.KVM_DEV_RISCV_AIA_GRP_CONFIG,
                                  uapi.KVM_DEV_RISCV_AIA_CONFIG_MODE)
        self.nr_ids = self._get_u32(uapi.KVM_DEV_RISCV_AIA_GRP_CONFIG,
                                    uapi.KVM_DEV_RISCV_AIA_CONFIG_IDS)
        config = uapi.KVM_DEV_RISCV_AIA_GRP_CONFIG
        self._set(config, uapi.KVM_DEV_RISCV_AIA_CONFIG_SRCS, "uint32_t", self.nr_lines)
        self._set(config, uapi.KVM_DEV_RISCV_AIA_CONFIG_HART_BITS, "uint32_t",
                  hart_index_bits(self.nr_harts))
        address = uapi.KVM_DEV_RISCV_AIA_GRP_ADDR
        self._set(address, uapi.KVM_DEV_RISCV_AIA_ADDR_APLIC, "uint64_t", layout.APLIC.start)
        for vcpu in vm.vcpus:
            self._set(address, uapi.kvm_dev_riscv_aia_addr_imsic(vcpu.id), "uint64_t",
                      self.imsic_address(vcpu.id))
        self._set(uapi.KVM_DEV_RISCV_AIA_GRP_CTRL, uapi.KVM_DEV_RISCV_AIA_CTRL_INIT, "uint64_t")

    # ------------------------------------------------------------ the facade

    def set_level(self, line: int, level: int) -> None:
        """KVM_IRQ_LINE on the APLIC source ``line``."""
        self._check_line(line)
        self.vmfd.irq_line(line, 1 if level else 0)

    def pulse(self, line: int) -> None:
        """Raise then lower source ``line``: one rising edge."""
        self.vmfd.irq_line(line, 1)
        self.vmfd.irq_line(line, 0)

    def irqfd(self, line: int, eventfd: int) -> None:
        """Pulse source ``line`` on each write, from the relay thread (an edge in the DT).

        Not KVM_IRQFD, which leaves the source's input high (see the module docstring).
        """
        self._check_line(line)
        if self._relay is None:
            self._relay = EventfdRelay("aia-irqfd")
        self._relay.add(eventfd, partial(self.pulse, line))
        self._edge_lines.add(line)

    def fdt_interrupt(self, line: int, edge: bool = False) -> list[int]:
        """``<line type>``: rising edge for irqfd lines, high level for the others."""
        self._check_line(line)
        pulsed = edge or line in self._edge_lines
        kind = IRQ_TYPE_EDGE_RISING if pulsed else IRQ_TYPE_LEVEL_HIGH
        return [line, kind]

    # ------------------------------------------------------------ device tree

    def fdt_nodes(self, fdt: FdtBuilder, cpu_intc: list[int]) -> None:
        """The IMSIC (MSI controller of the harts) and the APLIC (wired sources)."""
        self.imsic_phandle = fdt.allocate_phandle()
        imsic_size = self.nr_harts * uapi.KVM_DEV_RISCV_IMSIC_SIZE
        with fdt.node(f"imsics@{layout.IMSIC.start:x}"):
            fdt.property_string("compatible", "riscv,imsics")
            # Not the APLIC the root node names for devices (Linux's of_irq_init
            # would wait for it forever), nor itself: with #interrupt-cells = 0 a
            # self-parent makes every index of its missing ``interrupts`` parse,
            # and Linux counts them forever (hang in of_platform_populate). The
            # first hart's intc: initialized before the IMSIC, and one cell per
            # interrupt, so the count stops at interrupts-extended's end.
            fdt.property_u32("interrupt-parent", cpu_intc[0])
            fdt.property_cells("reg", layout.reg_cells(layout.IMSIC.start, imsic_size))
            fdt.property_u32("#address-cells", 0)
            fdt.property_u32("#interrupt-cells", 0)
            fdt.property_empty("interrupt-controller")
            fdt.property_empty("msi-controller")
            fdt.property_u32("#msi-cells", 0)
            fdt.property_cells("interrupts-extended",
                               [cell for phandle in cpu_intc for cell in (phandle, IRQ_S_EXT)])
            fdt.property_u32("riscv,num-ids", self.nr_ids)
            fdt.property_u32("riscv,hart-index-bits", hart_index_bits(self.nr_harts))
            fdt.property_phandle(self.imsic_phandle)
        with fdt.node(f"aplic@{layout.APLIC.start:x}"):
            fdt.property_string("compatible", "riscv,aplic")
            fdt.property_cells("reg", layout.reg_cells(layout.APLIC.start, layout.APLIC.size))
            fdt.property_u32("#address-cells", 0)
            fdt.property_u32("#interrupt-cells", 2)
            fdt.property_empty("interrupt-controller")
            fdt.property_u32("msi-parent", self.imsic_phandle)
            fdt.property_u32("riscv,num-sources", self.nr_lines)
            fdt.property_phandle(self.phandle)

    def close(self) -> None:
        """Stop the irqfd relay thread and close the AIA device fd."""
        if self._relay is not None:
            self._relay.stop()
            self._relay = None
        if self.device is not None:
            self.device.close()
            self.device = None

