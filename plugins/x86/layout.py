"""The x86 guest physical address map and the e820 memory map built from it.

RAM starts at 0 and runs up to the 32-bit PCI/MMIO hole (at most 3 GiB); the rest
starts at 4 GiB. The hole holds named windows the device plugins allocate from
(``vmm.core.layout.WindowAllocator``), named as on the other architectures:
"pci_mmio" (PCI BARs), "virtio_mmio" (virtio-mmio and other platform devices) and
"pci_ecam" (PCI configuration space), then the IOAPIC and the local APIC.
"""

from __future__ import annotations

import logging

from vmm.core.layout import Bank, MemoryLayout

from . import machine as m
from .state import E820Entry

log = logging.getLogger(__name__)

E820_RAM = 1
E820_RESERVED = 2
E820_TYPE_NAMES = {E820_RAM: "usable", E820_RESERVED: "reserved"}


def memory_layout(mem_bytes: int) -> MemoryLayout:
    """RAM banks below the 32-bit hole and above 4 GiB, plus the device windows."""
    low = min(mem_bytes, m.LOW_RAM_LIMIT)
    banks = [Bank(0, low)]
    if mem_bytes > low:
        banks.append(Bank(m.HIGH_RAM_START, mem_bytes - low))
    windows = {
        "pci_mmio": Bank(*m.PCI_MMIO_WINDOW),
        "virtio_mmio": Bank(*m.VIRTIO_MMIO_WINDOW),
        "pci_ecam": Bank(*m.PCI_ECAM_WINDOW),
        # in KVM: the IOAPIC, the local APICs, the identity-map page and the TSS
        "ioapic": Bank(m.IOAPIC_ADDR, m.IOAPIC_SIZE),
        "lapic": Bank(m.LAPIC_ADDR, m.LAPIC_SIZE),
        "kvm_tss": Bank(m.IDENTITY_MAP_ADDR, m.KVM_PAGES_SIZE),
    }
    return MemoryLayout(banks, windows, ports=PORT_WINDOWS)


#: The port-I/O windows: vmm's devices (registered with these names as owners) and
#: the ports KVM's in-kernel PIC, PIT (with port 0x61, inside the i8042's range) and
#: ELCR answer.
PORT_WINDOWS = {
    "pic": Bank(m.PIC_MASTER_PORT, m.PIC_PORTS),
    "pit": Bank(m.PIT_PORT, m.PIT_PORTS),
    "i8042": Bank(m.I8042_DATA_PORT, m.I8042_COMMAND_PORT - m.I8042_DATA_PORT + 1),
    "rtc": Bank(m.RTC_INDEX_PORT, 2),
    "pic_slave": Bank(m.PIC_SLAVE_PORT, m.PIC_PORTS),
    "com1": Bank(m.COM1_PORT, 8),
    "elcr": Bank(m.ELCR_PORT, m.ELCR_PORTS),
    "pci_config": Bank(0xCF8, 8),
}


def build_e820(layout: MemoryLayout) -> list[E820Entry]:
    """The e820 map of ``layout``: base memory, the BIOS hole, then the RAM banks.

    The EBDA (where the MP table lives) and the VGA/BIOS area up to 1 MiB are
    reserved; RAM above 1 MiB in the first bank and every other bank is usable.
    """
    first = layout.banks[0]
    if first.start != 0 or first.size <= m.HIGH_MEMORY:
        raise ValueError("x86 needs RAM from address 0 past 1 MiB")
    entries = [
        E820Entry(0, m.EBDA_ADDR, E820_RAM),
        E820Entry(m.EBDA_ADDR, m.HIGH_MEMORY - m.EBDA_ADDR, E820_RESERVED),
        E820Entry(m.HIGH_MEMORY, first.end - m.HIGH_MEMORY, E820_RAM),
    ]
    entries += [E820Entry(bank.start, bank.size, E820_RAM) for bank in layout.banks[1:]]
    return entries


def format_e820(entries: list[E820Entry]) -> list[str]:
    """The map as Linux prints it (``BIOS-e820: [mem 0x...-0x...] usable``)."""
    return [
        f"BIOS-e820: [mem {entry.addr:#018x}-{entry.end - 1:#018x}] "
        f"{E820_TYPE_NAMES.get(entry.type, f'type {entry.type}')}"
        for entry in entries
    ]


def log_e820(entries: list[E820Entry]) -> None:
    """Log the map vmm built at debug level (``--debug`` shows it)."""
    for line in format_e820(entries):
        log.debug("e820: %s", line)
