"""The riscv guest physical address map (kvmtool's): MMIO below 2 GiB, RAM from 2 GiB.

::

    0x0000_0000  ioport window (64 KiB); the 8250 UART at 0x3f8, as kvmtool
    0x0800_0000  irqchip window (128 MiB): the PLIC, or the IMSICs then the APLIC
    0x1000_0000  virtio-mmio window (512 MiB)
    0x3000_0000  PCI ECAM (16 MiB), then PCI MMIO (to 0x7000_0000)
    0x8000_0000  RAM
"""

from __future__ import annotations

from vmm.core.config import Config
from vmm.core.errors import ConfigError
from vmm.core.layout import Bank, MemoryLayout

from . import uapi

MIB = 1 << 20
GIB = 1 << 30

RAM_START = 0x8000_0000
IOPORT = Bank(0x0000_0000, 64 * 1024)
UART = Bank(0x3F8, 8)
IRQCHIP = Bank(0x0800_0000, 128 * MIB)
#: The PLIC's register space: 64 MiB, room for 15872 contexts.
PLIC = Bank(IRQCHIP.start, 64 * MIB)
#: One IMSIC page per hart from the window's start ...
IMSIC = Bank(IRQCHIP.start, 64 * MIB)
#: ... and the APLIC in the second half.
APLIC = Bank(IRQCHIP.start + 64 * MIB, uapi.KVM_DEV_RISCV_APLIC_SIZE)
VIRTIO_MMIO = Bank(0x1000_0000, 512 * MIB)
PCI_ECAM = Bank(0x3000_0000, 16 * MIB)
PCI_MMIO = Bank(PCI_ECAM.end, 1 * GIB - PCI_ECAM.size)

#: Guest RAM the layout accepts: up to the end of the 39-bit physical space Sv39 maps.
MAX_RAM = (1 << 39) - RAM_START


def reg_cells(start: int, size: int) -> list[int]:
    """A device tree ``reg`` for two address cells and two size cells."""
    return [start >> 32, start & 0xFFFF_FFFF, size >> 32, size & 0xFFFF_FFFF]


def riscv_layout(mem_bytes: int) -> MemoryLayout:
    """The address map of a riscv VM with ``mem_bytes`` of RAM."""
    if mem_bytes > MAX_RAM:
        raise ConfigError(
            f"-m {mem_bytes // MIB}: a riscv guest can have at most {MAX_RAM // MIB} MiB of RAM"
        )
    return MemoryLayout(
        banks=[Bank(RAM_START, mem_bytes)],
        windows={
            "ioport": IOPORT,
            "uart": UART,
            "irqchip": IRQCHIP,
            "plic": PLIC,
            "imsic": IMSIC,
            "aplic": APLIC,
            "virtio_mmio": VIRTIO_MMIO,
            "pci_ecam": PCI_ECAM,
            "pci_mmio": PCI_MMIO,
        },
    )


def memory_layout(config: Config) -> MemoryLayout:
    """RAM at 0x80000000 and the named MMIO windows below it."""
    return riscv_layout(config.mem_bytes)
