"""x86 firmware tables and boot structures: memory layout and e820, MP table,
GDT descriptors, identity page tables, the irqchip facade, and the built-in guest."""

from __future__ import annotations

import shutil
import struct
from itertools import pairwise

import pytest

from vmm.core.memory import GuestMemory
from vmm.core.testing import skip_or_fail
from vmm.plugins.x86 import cpumodes
from vmm.plugins.x86 import layout as m
from vmm.plugins.x86.e820 import build_e820, format_e820
from vmm.plugins.x86.guest import BUILTIN_BINARY, BUILTIN_SOURCE, FLAT16_SCRIPT, build_guest
from vmm.plugins.x86.irqchip import AllocatedLine
from vmm.plugins.x86.layout import memory_layout
from vmm.plugins.x86.mptable import build_mptable, checksum
from vmm.plugins.x86.state import E820Entry

GiB, MiB = 1 << 30, 1 << 20


def test_small_guest_has_one_bank_and_a_three_entry_map():
    layout = memory_layout(256 * MiB)
    assert [(bank.start, bank.size) for bank in layout.banks] == [(0, 256 * MiB)]
    assert format_e820(build_e820(layout)) == [
        "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
        "BIOS-e820: [mem 0x000000000009fc00-0x00000000000fffff] reserved",
        "BIOS-e820: [mem 0x0000000000100000-0x000000000fffffff] usable",
    ]


def test_big_guest_skips_the_32_bit_hole():
    layout = memory_layout(5 * GiB)
    assert [(bank.start, bank.size) for bank in layout.banks] == [(0, 3 * GiB), (4 * GiB, 2 * GiB)]
    e820 = build_e820(layout)
    assert e820[-1] == E820Entry(4 * GiB, 2 * GiB, 1)
    assert sum(entry.size for entry in e820 if entry.type == 1) == 5 * GiB - 0x60400


def test_device_windows_sit_in_the_hole_below_the_apics():
    layout = memory_layout(5 * GiB)
    device_windows = {"pci_mmio", "virtio_mmio", "pci_ecam"}
    assert set(layout.windows) == device_windows | {"ioapic", "lapic", "kvm_tss"}
    windows = sorted((bank for name, bank in layout.windows.items() if name in device_windows),
                     key=lambda bank: bank.start)
    assert windows[0].start >= 3 * GiB and windows[-1].end <= m.IOAPIC_ADDR
    for low, high in pairwise(windows):
        assert low.end <= high.start


def _mp_entries(config: bytes) -> list[bytes]:
    length, count = struct.unpack_from("<H", config, 4)[0], struct.unpack_from("<H", config, 34)[0]
    entries, position = [], 44
    for _ in range(count):
        size = 20 if config[position] == 0 else 8
        entries.append(config[position : position + size])
        position += size
    assert position == length
    return entries


def test_mp_table_checksums_and_cpus():
    pointer, config = build_mptable(3)
    assert pointer[:4] == b"_MP_" and len(pointer) == 16 and sum(pointer) % 256 == 0
    assert struct.unpack_from("<I", pointer, 4)[0] == m.MP_TABLE_ADDR
    assert config[:4] == b"PCMP" and sum(config) % 256 == 0
    assert checksum(config[:7] + b"\0" + config[8:]) == config[7]
    entries = _mp_entries(config)
    cpus = [entry for entry in entries if entry[0] == 0]
    assert [(cpu[1], cpu[3]) for cpu in cpus] == [(0, 3), (1, 1), (2, 1)]  # id, enabled|BSP
    ioapic = next(entry for entry in entries if entry[0] == 2)
    assert ioapic[1] == 3 and struct.unpack_from("<I", ioapic, 4)[0] == m.IOAPIC_ADDR
    interrupts = [entry for entry in entries if entry[0] == 3]
    assert [entry[7] for entry in interrupts] == list(range(16))
    assert [entry[1] for entry in entries if entry[0] == 4] == [3, 1]  # ExtINT, NMI


def test_mp_table_lists_lines_devices_allocated():
    _, config = build_mptable(1, [AllocatedLine(16, True, True)])
    extra = [entry for entry in _mp_entries(config) if entry[0] == 3][-1]
    irqflag = struct.unpack_from("<H", extra, 2)[0]
    assert (extra[5], extra[7], irqflag) == (16, 16, 0xF)  # level, active low


def test_mp_table_for_the_most_vcpus_fits_the_bios_area():
    _, config = build_mptable(254)
    assert m.MP_TABLE_ADDR + len(config) <= m.BIOS_AREA_END
    assert sum(1 for entry in _mp_entries(config) if entry[0] == 0) == 254
    with pytest.raises(Exception, match="at most 254"):
        build_mptable(255)


def test_gdt_descriptors_are_the_classic_flat_ones():
    assert cpumodes.CODE64.descriptor() == 0x00AF9B000000FFFF
    assert cpumodes.CODE32.descriptor() == 0x00CF9B000000FFFF
    assert cpumodes.DATA.descriptor() == 0x00CF93000000FFFF


def test_long_mode_registers_agree_with_the_gdt():
    registers = cpumodes.long_mode_registers((m.GDT_ADDR, 39), m.PML4_ADDR, 0x100200)
    assert registers["cs.selector"] == m.CODE64_SELECTOR == 0x10
    assert registers["ds.selector"] == m.DATA_SELECTOR == 0x18
    assert registers["cs.l"] == 1 and registers["cs.db"] == 0
    assert registers["efer"] == 0x500 and registers["cr4"] == 0x20 and registers["cr0"] >> 31


def test_identity_page_tables_map_the_first_4_gib():
    memory = GuestMemory()
    memory.add(0, 1 * MiB)
    try:
        cr3 = cpumodes.write_identity_page_tables(memory)

        def translate(address: int) -> int:
            pml4e = memory.read_u(cr3 + 8 * ((address >> 39) & 511), 8)
            pdpte = memory.read_u((pml4e & ~0xFFF) + 8 * ((address >> 30) & 511), 8)
            pde = memory.read_u((pdpte & ~0xFFF) + 8 * ((address >> 21) & 511), 8)
            assert pde & 0x83 == 0x83  # present, writable, 2 MiB page
            return (pde & ~0x1FFFFF & ((1 << 52) - 1)) | (address & 0x1FFFFF)

        for address in (0, 0x100200, 0x12345678, m.LAPIC_ADDR + 0x300, 4 * GiB - 1):
            assert translate(address) == address
    finally:
        memory.close()


def test_irqchip_allocates_ioapic_pins_above_the_isa_lines(vmm_vm):
    vm = vmm_vm("x86", blocked=["virtio"], mem_mib=64).build(until="core")
    chip = vm.vm.irqchip
    lines = [chip.allocate() for _ in range(8)]
    assert lines == list(range(16, 24))
    with pytest.raises(Exception, match="too many devices"):
        chip.allocate()
    chip.set_level(lines[0], 1)
    assert vm.ioctl_log()[-1] == "vm: KVM_IRQ_LINE(irq=0x10 level=1)"
    chip.irqfd(lines[1], 42)
    assert vm.ioctl_log()[-1] == "vm: KVM_IRQFD(gsi=17)"


def test_builtin_guest_binary_is_built_from_its_source(tmp_path):
    if shutil.which("as") is None or shutil.which("ld") is None:
        skip_or_fail("binutils (as, ld) not installed: apt-get install binutils")
    rebuilt = build_guest(BUILTIN_SOURCE, FLAT16_SCRIPT, tmp_path / "builtin.bin")
    assert rebuilt.read_bytes() == BUILTIN_BINARY.read_bytes()
