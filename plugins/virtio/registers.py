"""Register blocks described by a cffi struct: accesses of any width to named fields.

A transport's registers (the virtio-mmio block, virtio-pci's common configuration)
are declared as cffi structs in :mod:`cdefs`. :class:`RegisterMap` turns an access at
an offset into the field it falls in, so a 32-bit half of a 64-bit field or one byte
of a 16-bit field reads and writes the right bits: a read takes the field's value
from the transport and extracts the bytes; a write merges the bytes into the current
value and hands the field its new value.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

from .cdefs import ffi

Getter = Callable[[str], int]
Setter = Callable[[str, int], None]


class RegisterMap:
    """Offsets and sizes of a struct's scalar fields (arrays of padding are skipped)."""

    def __init__(self, ctype: str) -> None:
        self.ctype = ctype
        self.size = ffi.sizeof(ctype)
        fields: list[tuple[int, int, str]] = []
        for name, field in ffi.typeof(ctype).fields:
            if field.type.kind == "primitive":
                fields.append((field.offset, ffi.sizeof(field.type), name))
        fields.sort()
        self._offsets = [offset for offset, _, _ in fields]
        self._fields = fields
        self.offset = {name: offset for offset, _, name in fields}

    def field_at(self, offset: int, size: int) -> tuple[str, int, int] | None:
        """The field covering ``[offset, offset + size)``: (name, shift, field size)."""
        index = bisect.bisect(self._offsets, offset) - 1
        if index < 0:
            return None
        start, field_size, name = self._fields[index]
        if offset + size > start + field_size:
            return None
        return name, (offset - start) * 8, field_size

    def read(self, offset: int, size: int, get: Getter) -> int:
        """Read ``size`` bytes at ``offset``; 0 for reserved space or straddling accesses."""
        found = self.field_at(offset, size)
        if found is None:
            return 0
        name, shift, _ = found
        return (get(name) >> shift) & ((1 << (8 * size)) - 1)

    def write(self, offset: int, size: int, value: int, get: Getter, set_: Setter) -> None:
        """Write ``size`` bytes at ``offset`` into the field they fall in (else ignored)."""
        found = self.field_at(offset, size)
        if found is None:
            return
        name, shift, field_size = found
        if size == field_size:
            set_(name, value)
            return
        mask = ((1 << (8 * size)) - 1) << shift
        set_(name, (get(name) & ~mask) | ((value << shift) & mask))
