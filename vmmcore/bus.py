"""Port-I/O and MMIO buses: address ranges mapped to devices.

Like Firecracker's bus, inserting a range that overlaps another is refused. Lookups
use bisection over sorted bases.
"""

from __future__ import annotations

import bisect
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol


class Device(Protocol):
    """A device on a bus. Offsets are relative to the device's base."""

    def io_read(self, offset: int, size: int) -> int:
        """Return the little-endian value of a ``size``-byte read."""

    def io_write(self, offset: int, size: int, value: int) -> None:
        """Handle a ``size``-byte write of ``value``."""


@dataclass
class Access:
    """One guest access: address, size, direction and (for writes) the value."""

    addr: int
    size: int
    is_write: bool
    value: int = 0


class BusConflictError(ValueError):
    """A device range overlaps one already on the bus."""


class Bus:
    """A set of non-overlapping ``[base, base + size)`` ranges, each with a device."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._bases: list[int] = []
        self._entries: list[tuple[int, int, Device]] = []

    def register(self, base: int, size: int, device: Device) -> None:
        if size <= 0:
            raise ValueError(f"{self.name} range at {base:#x} has no size")
        index = bisect.bisect(self._bases, base)
        if index > 0:
            prev_base, prev_size, _ = self._entries[index - 1]
            if prev_base + prev_size > base:
                raise BusConflictError(
                    f"{self.name} range {base:#x}+{size:#x} overlaps {prev_base:#x}+{prev_size:#x}"
                )
        if index < len(self._bases) and base + size > self._bases[index]:
            next_base, next_size, _ = self._entries[index]
            raise BusConflictError(
                f"{self.name} range {base:#x}+{size:#x} overlaps {next_base:#x}+{next_size:#x}"
            )
        self._bases.insert(index, base)
        self._entries.insert(index, (base, size, device))

    def unregister(self, base: int) -> None:
        index = bisect.bisect_left(self._bases, base)
        if index < len(self._bases) and self._bases[index] == base:
            del self._bases[index]
            del self._entries[index]

    def _entry(self, addr: int, size: int) -> tuple[int, int, Device] | None:
        """The stored ``(base, length, device)`` covering the access, or None."""
        index = bisect_right(self._bases, addr) - 1
        if index >= 0:
            entry = self._entries[index]
            if addr + size <= entry[0] + entry[1]:
                return entry
        return None

    def find(self, addr: int, size: int = 1) -> tuple[int, Device] | None:
        """The device covering ``[addr, addr + size)`` and its base, or None."""
        entry = self._entry(addr, size)
        return None if entry is None else (entry[0], entry[2])

    def read(self, addr: int, size: int) -> int | None:
        """Dispatch a read; None when no device claims the address."""
        entry = self._entry(addr, size)
        if entry is None:
            return None
        return entry[2].io_read(addr - entry[0], size)

    def write(self, addr: int, size: int, value: int) -> bool:
        """Dispatch a write; False when no device claims the address."""
        entry = self._entry(addr, size)
        if entry is None:
            return False
        entry[2].io_write(addr - entry[0], size, value)
        return True

    def __iter__(self) -> Iterator[tuple[int, int, Device]]:
        return iter(self._entries)
