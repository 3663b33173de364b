"""The in-kernel vGIC (v3, or v2 as a fallback) and the ``vm.irqchip`` facade.

Devices get interrupt lines from ``vm.irqchip``:

- ``allocate() -> line``: a new shared peripheral interrupt (its GIC INTID, >= 32);
- ``set_level(line, level)``: drive it (KVM_IRQ_LINE);
- ``irqfd(line, eventfd)``: let an eventfd raise it without a vCPU exit (KVM_IRQFD);
- ``fdt_interrupt(line) -> [cells]``: the ``interrupts`` cells of a device tree node.
"""

from __future__ import annotations

import errno
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vmm.core.errors import ConfigError, KvmError, PluginError

from . import layout as mm
from . import uapi as u

if TYPE_CHECKING:
    from vmm.core.fdt import FdtBuilder
    from vmm.core.kvm.fds import DeviceFd, VmFd
    from vmm.core.vm import Vm

    from .its import Its

log = logging.getLogger(__name__)

#: INTIDs: SGIs 0-15, PPIs 16-31, SPIs from 32.
GIC_PPI_BASE = 16
GIC_SPI_BASE = 32
#: The most SPIs a device tree line can name here (the vGIC's limit is 1020 INTIDs).
GIC_MAX_INTID = 1020
#: KVM_DEV_ARM_VGIC_GRP_NR_IRQS takes a multiple of 32, at least 64.
NR_IRQS_GRANULE = 32
NR_IRQS_MIN = 64
# The vGICv2 frame sizes KVM maps (asm/kvm.h).
KVM_VGIC_V2_DIST_SIZE = 0x1000
KVM_VGIC_V2_CPU_SIZE = 0x2000
#: vGICv2 serves at most 8 CPUs.
GICV2_MAX_CPUS = 8

# Device tree interrupt specifier cells (dt-bindings/interrupt-controller/arm-gic.h).
FDT_GIC_SPI = 0
FDT_GIC_PPI = 1
IRQ_TYPE_EDGE_RISING = 1
IRQ_TYPE_LEVEL_HIGH = 4
FDT_PPI_CPU_SHIFT = 8

#: PPIs of the architected timer: secure physical, non-secure physical, virtual, hyp.
TIMER_PPIS = (29, 30, 27, 26)
#: The PMU's overflow interrupt (a PPI INTID), as kvmtool and QEMU use.
PMU_PPI = 23


@dataclass(frozen=True)
class GicFrames:
    """Where the GIC's register frames are: (base, size) pairs."""

    kind: str
    dist: tuple[int, int]
    second: tuple[int, int]  # GICv3 redistributors, or the GICv2 CPU interface


def gic_frames(kind: str, cpus: int) -> GicFrames:
    """The register frames of a ``kind`` GIC for ``cpus`` vCPUs (kvmtool's places)."""
    dist = (mm.GIC_DIST_BASE, mm.GIC_DIST_SIZE)
    if kind == "gicv3":
        size = mm.GICV3_REDIST_SIZE * cpus
        return GicFrames(kind, dist, (mm.GIC_DIST_BASE - size, size))
    cpu_base = mm.GIC_DIST_BASE - mm.GICV2_CPU_SIZE
    return GicFrames(kind, (mm.GIC_DIST_BASE, KVM_VGIC_V2_DIST_SIZE), (cpu_base, KVM_VGIC_V2_CPU_SIZE))


_DEVICE_TYPES = {"gicv3": u.KVM_DEV_TYPE_ARM_VGIC_V3, "gicv2": u.KVM_DEV_TYPE_ARM_VGIC_V2}
_ADDRESS_TYPES = {
    "gicv3": (u.KVM_VGIC_V3_ADDR_TYPE_DIST, u.KVM_VGIC_V3_ADDR_TYPE_REDIST),
    "gicv2": (u.KVM_VGIC_V2_ADDR_TYPE_DIST, u.KVM_VGIC_V2_ADDR_TYPE_CPU),
}


class Vgic:
    """The vGIC device fd and the SPI lines handed out so far (``vm.irqchip``, an
    :class:`~vmm.core.contracts.Irqchip`)."""

    #: The ITS (``--irqchip gicv3-its``), which makes the GIC take MSIs.
    its: Its | None = None

    def __init__(self, vmfd: VmFd, device: DeviceFd, frames: GicFrames) -> None:
        self._vmfd = vmfd
        self.device = device
        self.frames = frames
        self.kind = frames.kind
        self.phandle = 0
        self.initialized = False
        self._lock = threading.Lock()
        self._next_line = GIC_SPI_BASE

    @property
    def supports_msi(self) -> bool:
        """MSIs (KVM_SIGNAL_MSI) reach the guest: only through an ITS."""
        return self.its is not None

    @property
    def msi_devid(self) -> bool:
        """MSIs must carry the sender's DeviceID (KVM requires it once there is an ITS)."""
        return self.its is not None

    # -- the facade devices use ----------------------------------------------------

    def allocate(self) -> int:
        """Hand out a new SPI; returns its INTID."""
        with self._lock:
            if self.initialized:
                raise RuntimeError("interrupt lines must be allocated before the vGIC is initialised")
            if self._next_line >= GIC_MAX_INTID:
                raise ConfigError("too many devices: the GIC has no interrupt line left")
            line = self._next_line
            self._next_line += 1
            return line

    def set_level(self, line: int, level: int) -> None:
        """Raise (1) or lower (0) SPI ``line``."""
        self._vmfd.irq_line((u.KVM_ARM_IRQ_TYPE_SPI << u.KVM_ARM_IRQ_TYPE_SHIFT) | line, level)

    def irqfd(self, line: int, eventfd: int) -> None:
        """Route ``eventfd`` to SPI ``line`` (GSI = SPI number) in the kernel."""
        self._vmfd.irqfd(eventfd, line - GIC_SPI_BASE)

    def fdt_interrupt(self, line: int, edge: bool = False) -> list[int]:
        """The three ``interrupts`` cells naming SPI ``line`` in the device tree."""
        trigger = IRQ_TYPE_EDGE_RISING if edge else IRQ_TYPE_LEVEL_HIGH
        return [FDT_GIC_SPI, line - GIC_SPI_BASE, trigger]

    @property
    def lines_allocated(self) -> int:
        """How many SPIs devices were given."""
        return self._next_line - GIC_SPI_BASE

    # -- set-up ---------------------------------------------------------------------

    def set_addresses(self) -> None:
        """Tell KVM where the distributor and the redistributors / CPU interface are."""
        dist_type, second_type = _ADDRESS_TYPES[self.kind]
        for addr_type, (base, _) in ((dist_type, self.frames.dist), (second_type, self.frames.second)):
            value = u.ffi.new("uint64_t *", base)
            self.device.set_attr(u.KVM_DEV_ARM_VGIC_GRP_ADDR, addr_type, value)

    def initialize(self) -> None:
        """Set the number of IRQs and KVM_DEV_ARM_VGIC_CTRL_INIT (late stage)."""
        with self._lock:
            self.initialized = True
            wanted = GIC_SPI_BASE + self.lines_allocated
        nr_irqs = max(NR_IRQS_MIN, mm.align_up(wanted, NR_IRQS_GRANULE))
        self.device.set_attr(u.KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, u.ffi.new("uint32_t *", nr_irqs))
        self.device.set_attr(u.KVM_DEV_ARM_VGIC_GRP_CTRL, u.KVM_DEV_ARM_VGIC_CTRL_INIT)
        if self.its is not None:
            self.its.initialize()

    # -- device tree ------------------------------------------------------------------

    def ppi_cells(self, intid: int, cpus: int) -> list[int]:
        """The ``interrupts`` cells of a per-CPU interrupt (timer, PMU)."""
        flags = IRQ_TYPE_LEVEL_HIGH
        if self.kind == "gicv2":
            flags |= ((1 << cpus) - 1) << FDT_PPI_CPU_SHIFT
        return [FDT_GIC_PPI, intid - GIC_PPI_BASE, flags]

    def write_fdt_node(self, fdt: FdtBuilder) -> None:
        """The interrupt controller node (``phandle`` must be allocated first)."""
        dist_base, dist_size = self.frames.dist
        second_base, second_size = self.frames.second
        with fdt.node(f"intc@{dist_base:x}"):
            compatible = "arm,gic-v3" if self.kind == "gicv3" else "arm,cortex-a15-gic"
            fdt.property_string("compatible", compatible)
            fdt.property_u32("#interrupt-cells", 3)
            fdt.property_u32("#address-cells", 2)
            fdt.property_u32("#size-cells", 2)
            fdt.property_empty("interrupt-controller")
            fdt.property_cells("reg", reg_cells([(dist_base, dist_size), (second_base, second_size)]))
            fdt.property_phandle(self.phandle)
            if self.its is not None:
                fdt.property_empty("ranges")  # the ITS's reg is in the parent's space
                self.its.write_fdt_node(fdt, reg_cells([(self.its.base, mm.GIC_ITS_SIZE)]))


def reg_cells(ranges: list[tuple[int, int]]) -> list[int]:
    """``reg`` cells for (address, size) pairs with #address-cells = #size-cells = 2."""
    cells: list[int] = []
    for address, size in ranges:
        cells += [address >> 32, address & 0xFFFF_FFFF, size >> 32, size & 0xFFFF_FFFF]
    return cells


def create_vgic(vmfd: VmFd, choice: str, cpus: int) -> Vgic:
    """Create the vGIC the user chose (``auto``: v3, else v2; ``gicv3-its``: v3 and
    an ITS) and place its frames."""
    if choice == "gicv3-its":
        from .its import create_its

        vgic = create_vgic(vmfd, "gicv3", cpus)
        vgic.its = create_its(vmfd, vgic.frames.second[0])
        return vgic
    candidates = ("gicv3", "gicv2") if choice == "auto" else (choice,)
    for kind in candidates:
        if kind == "gicv2" and cpus > GICV2_MAX_CPUS:
            if choice == "gicv2":
                raise ConfigError(f"-c {cpus}: a GICv2 serves at most {GICV2_MAX_CPUS} vCPUs")
            continue
        try:
            device = vmfd.create_device(_DEVICE_TYPES[kind])
        except KvmError as error:
            if error.errno not in (errno.ENODEV, errno.ENXIO, errno.EINVAL):
                raise
            log.debug("no in-kernel %s: %s", kind, error)
            continue
        vgic = Vgic(vmfd, device, gic_frames(kind, cpus))
        vgic.set_addresses()
        return vgic
    if choice == "auto":
        raise ConfigError("this host's KVM has no in-kernel GIC (neither GICv3 nor GICv2)")
    other = "gicv2" if choice == "gicv3" else "gicv3"
    raise ConfigError(
        f"this host's KVM has no in-kernel {choice.upper()}: use --irqchip {other} or auto"
    )


def arm64_vgic(vm: Vm) -> Vgic:
    """``vm.irqchip`` as the arm64 plugin's :class:`Vgic` (the generic contract
    lacks the GIC's own members); a PluginError if it is anything else."""
    chip = vm.irqchip
    if not isinstance(chip, Vgic):
        raise PluginError(f"vm.irqchip is {type(chip).__name__}, not the arm64 vGIC "
                          "(vmm_create_irqchip has not run for this VM)")
    return chip
