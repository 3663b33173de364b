"""Flat segments, the boot GDT, identity-mapped page tables, and the register sets
that start a vCPU in real mode, 32-bit protected mode or long mode.

One :class:`Segment` value gives both the 8-byte GDT descriptor and the matching
``kvm_segment`` register fields, so the GDT in guest memory and the hidden segment
state KVM is given always agree.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from vmm.core.memory import GuestMemory

from . import layout as m

PAGE_PRESENT = 1 << 0
PAGE_WRITABLE = 1 << 1
PAGE_HUGE = 1 << 7
PAGE_TABLE_ENTRIES = 512
PAGE_SIZE = 4096
LARGE_PAGE = 2 * m.MiB

TYPE_CODE_EXEC_READ_ACCESSED = 0xB
TYPE_DATA_READ_WRITE_ACCESSED = 0x3
TYPE_TSS_BUSY = 0xB


class Segment(NamedTuple):
    """A segment as both a GDT descriptor and KVM's hidden segment state."""

    selector: int
    type: int
    base: int = 0
    limit: int = 0xFFFFFFFF  # in bytes, as KVM wants it
    s: int = 1  # code/data (1) or system (0)
    dpl: int = 0
    present: int = 1
    avl: int = 0
    l: int = 0  # noqa: E741 (struct kvm_segment's name)  64-bit code
    db: int = 1  # 32-bit default operand size
    g: int = 1  # 4 KiB granularity

    def descriptor(self) -> int:
        """The 8-byte GDT descriptor (limit stored in pages when ``g``)."""
        limit = self.limit >> 12 if self.g else self.limit
        access = self.type | self.s << 4 | self.dpl << 5 | self.present << 7
        flags = self.avl | self.l << 1 | self.db << 2 | self.g << 3
        return (
            (limit & 0xFFFF)
            | (self.base & 0xFFFFFF) << 16
            | access << 40
            | ((limit >> 16) & 0xF) << 48
            | flags << 52
            | ((self.base >> 24) & 0xFF) << 56
        )

    def registers(self, name: str) -> dict[str, int]:
        """The ``<name>.<field>`` entries that load this segment into a vCPU."""
        fields = ("selector", "base", "limit", "type", "present", "dpl", "db", "s", "l", "g", "avl")
        return {f"{name}.{field}": getattr(self, field) for field in fields}


CODE32 = Segment(m.CODE32_SELECTOR, TYPE_CODE_EXEC_READ_ACCESSED)
CODE64 = Segment(m.CODE64_SELECTOR, TYPE_CODE_EXEC_READ_ACCESSED, l=1, db=0)
DATA = Segment(m.DATA_SELECTOR, TYPE_DATA_READ_WRITE_ACCESSED)
TSS = Segment(m.TSS_SELECTOR, TYPE_TSS_BUSY, limit=0x67, s=0, db=0, g=0)

#: The GDT vmm writes: index = selector / 8.
BOOT_GDT = (None, CODE32, CODE64, DATA, TSS)
DATA_SEGMENT_NAMES = ("ds", "es", "fs", "gs", "ss")


def write_boot_gdt(memory: GuestMemory) -> tuple[int, int]:
    """Write the boot GDT; return its (base, limit) for the gdt register."""
    descriptors = [0 if segment is None else segment.descriptor() for segment in BOOT_GDT]
    data = struct.pack(f"<{len(descriptors)}Q", *descriptors)
    memory.write(m.GDT_ADDR, data)
    return m.GDT_ADDR, len(data) - 1


def write_identity_page_tables(memory: GuestMemory) -> int:
    """Identity-map the first 4 GiB with 2 MiB pages; return the PML4's address (CR3).

    4 GiB covers the kernel, the boot structures and the local APIC and IOAPIC.
    """
    table = PAGE_PRESENT | PAGE_WRITABLE
    memory.write(m.PML4_ADDR, struct.pack(f"<{PAGE_TABLE_ENTRIES}Q", m.PDPT_ADDR | table,
                                          *([0] * (PAGE_TABLE_ENTRIES - 1))))
    pdpt = [m.PD_ADDR + i * PAGE_SIZE | table for i in range(m.IDENTITY_MAPPED_GIB)]
    pdpt += [0] * (PAGE_TABLE_ENTRIES - len(pdpt))
    memory.write(m.PDPT_ADDR, struct.pack(f"<{PAGE_TABLE_ENTRIES}Q", *pdpt))
    for gib in range(m.IDENTITY_MAPPED_GIB):
        entries = [
            (gib * m.GiB + index * LARGE_PAGE) | table | PAGE_HUGE
            for index in range(PAGE_TABLE_ENTRIES)
        ]
        memory.write(m.PD_ADDR + gib * PAGE_SIZE, struct.pack(f"<{PAGE_TABLE_ENTRIES}Q", *entries))
    return m.PML4_ADDR


def _flat_segments(code: Segment) -> dict[str, int]:
    registers = code.registers("cs")
    for name in DATA_SEGMENT_NAMES:
        registers.update(DATA.registers(name))
    registers.update(TSS.registers("tr"))
    return registers


def real_mode_registers(segment: int, ip: int, sp: int) -> dict[str, int]:
    """Start at ``segment:ip`` in real mode with every segment register = ``segment``."""
    registers: dict[str, int] = {}
    for name in ("cs",) + DATA_SEGMENT_NAMES:
        registers[f"{name}.selector"] = segment
        registers[f"{name}.base"] = segment << 4
    registers.update({"rip": ip, "rsp": sp, "rbp": sp, "rflags": m.RFLAGS_RESERVED})
    return registers


def protected_mode_registers(gdt: tuple[int, int], entry: int) -> dict[str, int]:
    """32-bit flat protected mode, paging off, at ``entry`` (the PVH start state)."""
    registers = _flat_segments(CODE32)
    registers.update({"gdt.base": gdt[0], "gdt.limit": gdt[1],
                      "cr0": m.CR0_PE | m.CR0_ET, "cr4": 0, "efer": 0})
    registers.update({"rip": entry, "rflags": m.RFLAGS_RESERVED})
    return registers


def long_mode_registers(gdt: tuple[int, int], cr3: int, entry: int) -> dict[str, int]:
    """64-bit mode with the identity map at ``cr3``, flat segments, at ``entry``."""
    registers = _flat_segments(CODE64)
    registers.update({"gdt.base": gdt[0], "gdt.limit": gdt[1], "cr3": cr3,
                      "cr4": m.CR4_PAE, "cr0": m.CR0_PE | m.CR0_ET | m.CR0_PG,
                      "efer": m.EFER_LME | m.EFER_LMA})
    registers.update({"rip": entry, "rsp": m.BOOT_STACK_POINTER, "rflags": m.RFLAGS_RESERVED})
    return registers
