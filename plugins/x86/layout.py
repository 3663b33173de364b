"""The x86 guest physical address map: where vmm puts what in guest physical memory.

Low memory, as a PC BIOS leaves it::

    0x0000_0500  GDT (flat code32, code64, data, TSS)
    0x0000_7000  zero page (boot_params) / PVH start info
    0x0000_9000  page tables: PML4, PDPT, 4 page directories (identity map, 4 GiB)
    0x0001_0000  flat real-mode binary (1000:0000)
    0x0002_0000  kernel command line
    0x0009_fc00  EBDA: MP floating pointer
    0x000a_0000  VGA hole and BIOS area (reserved in the e820 map)
    0x000f_0000  MP configuration table (in the BIOS area Linux also scans)
    0x0010_0000  protected-mode kernel (bzImage), or the ELF's own addresses

Above RAM's first bank (at most 3 GiB) is the 32-bit hole with the MMIO windows,
the IOAPIC and local APIC, and the TSS / identity-map pages KVM needs; the rest of
RAM starts at 4 GiB. The hole's named windows are what the device plugins allocate
from, named as on the other architectures: "pci_mmio" (PCI BARs), "virtio_mmio"
(virtio-mmio and other platform devices: the shared window ``vm.mmio.allocate``
hands ranges out of) and "pci_ecam" (PCI configuration space); "ioapic", "lapic"
and "kvm_tss" are KVM's. The ports of vmm's devices and of KVM's in-kernel PIC and
PIT are port windows (:data:`PORT_WINDOWS`). The core reserves them all on the buses
before any device exists.
"""

from __future__ import annotations

from vmm.core.layout import Bank, MemoryLayout

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30

GDT_ADDR = 0x500
ZERO_PAGE_ADDR = 0x7000
BOOT_STACK_POINTER = 0x8FF0
PML4_ADDR = 0x9000
PDPT_ADDR = 0xA000
PD_ADDR = 0xB000  # four page directories follow: 0xB000..0xEFFF
IDENTITY_MAPPED_GIB = 4
CMDLINE_ADDR = 0x20000
CMDLINE_MAX = 0x10000
EBDA_ADDR = 0x9FC00
MP_TABLE_ADDR = 0xF0000
BIOS_AREA_END = 0x100000
VGA_HOLE_START = 0xA0000
HIGH_MEMORY = 1 * MiB

# Real mode flat binaries, as kvmtool loads them.
REAL_MODE_SEGMENT = 0x1000
REAL_MODE_STACK = 0x8000

# Guest physical map above low RAM.
LOW_RAM_LIMIT = 3 * GiB
HIGH_RAM_START = 4 * GiB
PCI_MMIO_WINDOW = (0xC000_0000, 0x1000_0000)
VIRTIO_MMIO_WINDOW = (0xD000_0000, 0x1000_0000)
PCI_ECAM_WINDOW = (0xE000_0000, 0x1000_0000)
IOAPIC_ADDR = 0xFEC0_0000
IOAPIC_SIZE = 0x1000
LAPIC_ADDR = 0xFEE0_0000
LAPIC_SIZE = 0x1000
IDENTITY_MAP_ADDR = 0xFFFB_C000  # one page for KVM (real mode on VMX)
TSS_ADDR = 0xFFFB_D000  # three pages for KVM
KVM_PAGES_SIZE = 4 * 0x1000  # the identity-map page and the TSS's three

# GDT selectors (the 64-bit boot protocol wants __BOOT_CS 0x10 and __BOOT_DS 0x18).
CODE32_SELECTOR = 0x08
CODE64_SELECTOR = 0x10
DATA_SELECTOR = 0x18
TSS_SELECTOR = 0x20

# Control registers and flags.
CR0_PE = 1 << 0
CR0_ET = 1 << 4
CR0_PG = 1 << 31
CR4_PAE = 1 << 5
EFER_LME = 1 << 8
EFER_LMA = 1 << 10
RFLAGS_RESERVED = 1 << 1
RFLAGS_IF = 1 << 9

# Serial, keyboard controller and CMOS real-time clock.
COM1_PORT = 0x3F8
COM1_IRQ = 4
I8042_DATA_PORT = 0x60
I8042_COMMAND_PORT = 0x64
RTC_INDEX_PORT = 0x70  # the data port follows at 0x71

# Ports KVM's in-kernel irqchip and PIT decode (they never reach vmm's bus).
PIC_MASTER_PORT = 0x20
PIC_SLAVE_PORT = 0xA0
PIC_PORTS = 2
PIT_PORT = 0x40
PIT_PORTS = 4
ELCR_PORT = 0x4D0
ELCR_PORTS = 2

#: The port-I/O windows: vmm's devices (registered with these names as owners) and
#: the ports KVM's in-kernel PIC, PIT (with port 0x61, inside the i8042's range) and
#: ELCR answer.
PORT_WINDOWS = {
    "pic": Bank(PIC_MASTER_PORT, PIC_PORTS),
    "pit": Bank(PIT_PORT, PIT_PORTS),
    "i8042": Bank(I8042_DATA_PORT, I8042_COMMAND_PORT - I8042_DATA_PORT + 1),
    "rtc": Bank(RTC_INDEX_PORT, 2),
    "pic_slave": Bank(PIC_SLAVE_PORT, PIC_PORTS),
    "com1": Bank(COM1_PORT, 8),
    "elcr": Bank(ELCR_PORT, ELCR_PORTS),
    "pci_config": Bank(0xCF8, 8),
}


def memory_layout(mem_bytes: int) -> MemoryLayout:
    """RAM banks below the 32-bit hole and above 4 GiB, plus the device windows."""
    low = min(mem_bytes, LOW_RAM_LIMIT)
    banks = [Bank(0, low)]
    if mem_bytes > low:
        banks.append(Bank(HIGH_RAM_START, mem_bytes - low))
    windows = {
        "pci_mmio": Bank(*PCI_MMIO_WINDOW),
        "virtio_mmio": Bank(*VIRTIO_MMIO_WINDOW),
        "pci_ecam": Bank(*PCI_ECAM_WINDOW),
        # in KVM: the IOAPIC, the local APICs, the identity-map page and the TSS
        "ioapic": Bank(IOAPIC_ADDR, IOAPIC_SIZE),
        "lapic": Bank(LAPIC_ADDR, LAPIC_SIZE),
        "kvm_tss": Bank(IDENTITY_MAP_ADDR, KVM_PAGES_SIZE),
    }
    return MemoryLayout(banks, windows, ports=PORT_WINDOWS)
