"""The arm64 guest physical address map (kvmtool's) and the IPA size it needs.

::

    0        16M       32M       48M            1G        1G+256M    2G
    +--------+---------+---------+--------+-----+---------+----------+------
    | (PCI   | UART,   | CFI     | virtio | GIC | PCI     | PCI      | RAM
    |  I/O)  | RTC,    | flash   | MMIO   |     | ECAM    | MMIO     |
    |        | pvtime  |         |        |     |         |          |
    +--------+---------+---------+--------+-----+---------+----------+------
"""

from __future__ import annotations

from vmm.core.errors import ConfigError
from vmm.core.layout import Bank, MemoryLayout, align_down, align_up  # noqa: F401

SZ_64K = 1 << 16
SZ_2M = 1 << 21
SZ_16M = 1 << 24
SZ_256M = 1 << 28

MMIO_AREA = 0x0100_0000
AXI_AREA = 0x4000_0000
#: Guest RAM starts here (kvmtool's ARM_MEMORY_AREA).
RAM_START = 0x8000_0000

UART_BASE = MMIO_AREA
UART_SIZE = 8
UART_AREA_SIZE = SZ_64K
RTC_AREA_SIZE = SZ_64K
PVTIME_BASE = UART_BASE + UART_AREA_SIZE + RTC_AREA_SIZE
PVTIME_SIZE = SZ_64K
#: Stolen-time record per vCPU (struct pvclock_vcpu_stolen_time is 64 bytes).
PVTIME_RECORD_SIZE = 64

FLASH_BASE = MMIO_AREA + SZ_16M
FLASH_MAX_SIZE = SZ_16M
VIRTIO_MMIO_BASE = FLASH_BASE + FLASH_MAX_SIZE

GIC_DIST_SIZE = SZ_64K
GIC_DIST_BASE = AXI_AREA - GIC_DIST_SIZE
GICV2_CPU_SIZE = 2 * SZ_64K
GICV3_REDIST_SIZE = 2 * SZ_64K  # one per vCPU: RD_base and SGI_base frames
#: The GICv3 ITS frame (--irqchip gicv3-its), below the redistributors.
GIC_ITS_SIZE = 2 * SZ_64K

PCI_ECAM_BASE = AXI_AREA
PCI_ECAM_SIZE = SZ_256M
PCI_MMIO_BASE = PCI_ECAM_BASE + PCI_ECAM_SIZE
PCI_MMIO_SIZE = RAM_START - PCI_MMIO_BASE

#: The device tree window (kvmtool's FDT_MAX_SIZE) and its alignment.
DTB_WINDOW = SZ_64K
DTB_ALIGN = SZ_2M
#: The device tree goes below min(RAM size, this) from the start of RAM.
DTB_RAM_LIMIT = SZ_256M

#: IPA bits a VM always gets, however small its RAM.
MIN_IPA_BITS = 32
#: The IPA size KVM gives a type-0 VM when KVM_CAP_ARM_VM_IPA_SIZE is absent.
DEFAULT_IPA_BITS = 40


def gic_region_size(cpus: int) -> int:
    """Bytes below the distributor the GIC may use (GICv3 redistributors and the ITS,
    or the GICv2 CPU interface)."""
    return max(GICV3_REDIST_SIZE * cpus + GIC_ITS_SIZE, GICV2_CPU_SIZE)


def memory_layout(mem_bytes: int, cpus: int) -> MemoryLayout:
    """RAM at 2 GiB and the MMIO windows devices are placed in."""
    gic_bottom = GIC_DIST_BASE - gic_region_size(cpus)
    if gic_bottom <= VIRTIO_MMIO_BASE:
        raise ConfigError(f"-c {cpus}: too many vCPUs for the GIC's redistributor space")
    windows = {
        "uart": Bank(UART_BASE, UART_AREA_SIZE),
        "pvtime": Bank(PVTIME_BASE, PVTIME_SIZE),
        "flash": Bank(FLASH_BASE, FLASH_MAX_SIZE),
        "virtio_mmio": Bank(VIRTIO_MMIO_BASE, gic_bottom - VIRTIO_MMIO_BASE),
        "gic": Bank(gic_bottom, AXI_AREA - gic_bottom),
        "pci_ecam": Bank(PCI_ECAM_BASE, PCI_ECAM_SIZE),
        "pci_mmio": Bank(PCI_MMIO_BASE, PCI_MMIO_SIZE),
    }
    return MemoryLayout([Bank(RAM_START, mem_bytes)], windows)


def fls(value: int) -> int:
    """The position of the highest set bit, counting from 1 (0 for 0), as Linux's fls."""
    return value.bit_length()


def required_ipa_bits(layout: MemoryLayout) -> int:
    """IPA bits needed to address the last byte of RAM (at least 32)."""
    return max(MIN_IPA_BITS, fls(layout.ram_end - 1))


def dtb_address(ram_start: int, ram_size: int) -> int:
    """Where kvmtool puts the device tree: 2 MiB aligned, below min(RAM, 256 MiB)."""
    limit = ram_start + min(ram_size, DTB_RAM_LIMIT) - 1
    position = limit - (DTB_WINDOW + DTB_ALIGN)
    return align_up(position, DTB_ALIGN)

