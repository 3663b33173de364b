"""The device tree builder, fed what plugins and users pass it.

Each input is a sequence of builder calls (nodes, properties of every kind,
reservations) with names and values drawn from the bytes: strings with any code
point (a NUL from ``-p``, say), integers of any size, deep or unbalanced nesting.
The builder may refuse with FdtError; otherwise ``finish()`` must produce a blob
whose header is consistent (magic, total size, block offsets inside the blob).
"""

from __future__ import annotations

import struct

from . import OneInput, Target
from .reader import Reader

FDT_MAGIC = 0xD00DFEED


def _setup() -> OneInput:
    from vmm.core.fdt import FdtBuilder, FdtError

    def call(fdt, reader: Reader) -> None:
        choice = reader.uint(1) % 12
        name = reader.text(24)
        if choice == 0:
            fdt.begin_node(name)
        elif choice == 1:
            fdt.end_node()
        elif choice == 2:
            fdt.property(name, reader.take(reader.below(64)))
        elif choice == 3:
            fdt.property_empty(name)
        elif choice == 4:
            fdt.property_u32(name, reader.uint(5) - (1 << 32) * reader.flag())
        elif choice == 5:
            fdt.property_u64(name, reader.uint(9))
        elif choice == 6:
            fdt.property_cells(name, [reader.uint(5) for _ in range(reader.below(6))])
        elif choice == 7:
            fdt.property_string(name, reader.text(64))
        elif choice == 8:
            fdt.property_string_list(name, [reader.text(16) for _ in range(reader.below(4))])
        elif choice == 9:
            fdt.add_reservation(reader.uint(9) - reader.flag(), reader.uint(9))
        elif choice == 10:
            fdt.property_phandle(reader.uint(5) if reader.flag() else None)
        else:
            fdt.allocate_phandle()

    def one_input(data: bytes) -> None:
        reader = Reader(data)
        fdt = FdtBuilder(boot_cpuid_phys=reader.uint(4))
        try:
            fdt.begin_node("")
            while reader.left:
                call(fdt, reader)
            while fdt.depth:
                fdt.end_node()
            blob = fdt.finish()
        except FdtError:
            return
        magic, total, structs, strings, reservations = struct.unpack_from(">5I", blob)
        assert magic == FDT_MAGIC and total == len(blob), (magic, total, len(blob))
        assert max(structs, strings, reservations) <= total

    return one_input


def _seeds() -> list[bytes]:
    return [b"\0\0\0\0" + b"\x00\x03cpu" + b"\x07\x07compat\x05abc\0d" + b"\x01", bytes(40)]


TARGETS = {"fdt": Target("fdt", "the device tree builder's names, values and nesting",
                         _setup, _seeds)}
