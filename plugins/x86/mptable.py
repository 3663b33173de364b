"""The Intel MultiProcessor Specification 1.4 table: how Linux finds the CPUs, the
IOAPIC and the interrupt wiring when there is no ACPI.

The floating pointer sits at the start of the EBDA (639 KiB, where Linux scans),
the configuration table in the BIOS area at 0xf0000 (room for 254 processors);
both are in the e820 map's reserved range.
ISA lines 0-15 go to the same IOAPIC pins (KVM's default routing); lines devices
allocated from the irqchip facade are added with the trigger mode they asked for.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from vmm.core.errors import ConfigError
from vmm.core.memory import GuestMemory

from . import layout as m
from .uapi import ffi

MP_PROCESSOR, MP_BUS, MP_IOAPIC, MP_INTSRC, MP_LINTSRC = 0, 1, 2, 3, 4
MP_SPEC_REV = 4  # version 1.4
MP_INT, MP_NMI, MP_EXTINT = 0, 1, 3
CPU_ENABLED, CPU_BOOTPROCESSOR = 1, 2
IOAPIC_ENABLED = 1
LAPIC_VERSION = 0x14
IOAPIC_VERSION = 0x11
ISA_BUS_ID = 0
ISA_LINES = 16
IRQFLAG_ACTIVE_HIGH, IRQFLAG_ACTIVE_LOW = 0x1, 0x3
IRQFLAG_EDGE, IRQFLAG_LEVEL = 0x1 << 2, 0x3 << 2
ALL_LAPICS = 0xFF
CPU_SIGNATURE = 0x600  # family 6
CPU_FEATURES = (1 << 0) | (1 << 9)  # FPU, APIC
BDA_EBDA_SEGMENT = 0x40E
BDA_BASE_MEMORY_KIB = 0x413
#: APIC ids are 8 bits and 0xff is broadcast; the IOAPIC takes the id after the CPUs.
MAX_CPUS = 0xFE


def checksum(data: bytes | bytearray) -> int:
    """The byte that makes ``data`` sum to zero modulo 256."""
    return -sum(data) & 0xFF


def _entry(ctype: str, **fields: Any) -> bytes:
    return bytes(ffi.buffer(ffi.new(f"{ctype} *", fields)))


def build_entries(cpus: int, allocated: Iterable[Any] = ()) -> list[bytes]:
    """The configuration table's entries, in the order the specification asks."""
    ioapic_id = cpus
    entries = [
        _entry("struct mpc_cpu", type=MP_PROCESSOR, apicid=cpu, apicver=LAPIC_VERSION,
               cpuflag=CPU_ENABLED | (CPU_BOOTPROCESSOR if cpu == 0 else 0),
               cpufeature=CPU_SIGNATURE, featureflag=CPU_FEATURES)
        for cpu in range(cpus)
    ]
    entries.append(_entry("struct mpc_bus", type=MP_BUS, busid=ISA_BUS_ID, bustype=b"ISA   "))
    entries.append(_entry("struct mpc_ioapic", type=MP_IOAPIC, apicid=ioapic_id,
                          apicver=IOAPIC_VERSION, flags=IOAPIC_ENABLED, apicaddr=m.IOAPIC_ADDR))
    lines = [(line, 0) for line in range(ISA_LINES)]
    for entry in allocated:
        flags = (IRQFLAG_LEVEL if entry.level_triggered else IRQFLAG_EDGE) | (
            IRQFLAG_ACTIVE_LOW if entry.active_low else IRQFLAG_ACTIVE_HIGH)
        lines.append((entry.line, flags))
    for line, flags in lines:
        entries.append(_entry("struct mpc_intsrc", type=MP_INTSRC, irqtype=MP_INT, irqflag=flags,
                              srcbus=ISA_BUS_ID, srcbusirq=line, dstapic=ioapic_id, dstirq=line))
    for irqtype, lint in ((MP_EXTINT, 0), (MP_NMI, 1)):
        entries.append(_entry("struct mpc_lintsrc", type=MP_LINTSRC, irqtype=irqtype, irqflag=0,
                              srcbusid=ISA_BUS_ID, srcbusirq=0, destapic=ALL_LAPICS,
                              destapiclint=lint))
    return entries


def build_mptable(cpus: int, allocated: Iterable[Any] = (),
                  table_addr: int = m.MP_TABLE_ADDR) -> tuple[bytes, bytes]:
    """The floating pointer and the configuration table (at ``table_addr``)."""
    if cpus > MAX_CPUS:
        raise ConfigError(f"-c {cpus}: the MP table describes at most {MAX_CPUS} vCPUs")
    entries = build_entries(cpus, allocated)
    header_size = ffi.sizeof("struct mpc_table")
    floating_size = ffi.sizeof("struct mpf_intel")
    table = ffi.new("struct mpc_table *", {
        "signature": b"PCMP", "spec": MP_SPEC_REV, "oem": b"VMM     ",
        "productid": b"VMM-X86     ", "lapic": m.LAPIC_ADDR, "oemcount": len(entries),
        "length": header_size + sum(len(entry) for entry in entries),
    })
    body = bytearray(ffi.buffer(table)) + b"".join(entries)
    body[ffi.offsetof("struct mpc_table", "checksum")] = checksum(body)
    floating = ffi.new("struct mpf_intel *", {
        "signature": b"_MP_", "physptr": table_addr,
        "length": floating_size // 16, "specification": MP_SPEC_REV,
    })
    pointer = bytearray(ffi.buffer(floating))
    pointer[ffi.offsetof("struct mpf_intel", "checksum")] = checksum(pointer)
    return bytes(pointer), bytes(body)


def write_mptable(memory: GuestMemory, cpus: int, allocated: Iterable[Any] = ()) -> int:
    """Write the MP table (and point the BIOS data area at the EBDA); return the
    floating pointer's address."""
    pointer, table = build_mptable(cpus, allocated)
    if m.MP_TABLE_ADDR + len(table) > m.BIOS_AREA_END:
        raise ConfigError(f"-c {cpus}: the MP table outgrows the BIOS area; use fewer vCPUs")
    memory.write(m.EBDA_ADDR, pointer)
    memory.write(m.MP_TABLE_ADDR, table)
    memory.write_u(BDA_EBDA_SEGMENT, 2, m.EBDA_ADDR >> 4)
    memory.write_u(BDA_BASE_MEMORY_KIB, 2, m.EBDA_ADDR >> 10)
    return m.EBDA_ADDR
