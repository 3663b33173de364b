"""The bus refuses overlapping ranges; guest memory refuses ranges outside RAM."""

from __future__ import annotations

import pytest

from vmm.core.bus import Bus, BusConflictError
from vmm.core.memory import GuestMemory, GuestMemoryError


class Reg:
    def __init__(self) -> None:
        self.writes: list[tuple[int, int, int]] = []

    def io_read(self, offset: int, size: int) -> int:
        return offset

    def io_write(self, offset: int, size: int, value: int) -> None:
        self.writes.append((offset, size, value))


def test_bus_dispatches_by_offset_and_refuses_overlaps():
    bus = Bus("MMIO")
    first, second = Reg(), Reg()
    bus.register(0x1000, 0x100, first)
    bus.register(0x1100, 0x100, second)
    assert bus.read(0x1010, 4) == 0x10
    assert bus.write(0x1104, 1, 7) and second.writes == [(4, 1, 7)]
    assert bus.read(0x0FFF, 1) is None and bus.read(0x1200, 1) is None
    assert bus.read(0x10FE, 4) is None, "an access straddling two devices is unclaimed"
    for base, size in [(0x10F0, 0x20), (0x0F00, 0x101), (0x1050, 1), (0x1000, 0x200)]:
        with pytest.raises(BusConflictError):
            bus.register(base, size, Reg())
    bus.register(0x0F00, 0x100, Reg())
    bus.unregister(0x1000)
    bus.register(0x1000, 0x80, Reg())


def test_guest_memory_is_bounds_checked_and_zero_copy():
    memory = GuestMemory()
    memory.add(0, 0x10000)
    memory.add(0x100000, 0x1000)
    memory.write(0x100, b"abc")
    view = memory.view(0x100, 3)
    view[0:1] = b"X"
    assert memory.read(0x100, 3) == b"Xbc"
    memory.write_u(0x100FF8, 8, 0x1122334455667788)
    assert memory.read_u(0x100FF8, 8) == 0x1122334455667788
    for gpa, length in [(0xFFFF, 2), (0x10000, 1), (0x100FFF, 2), (-1, 1), (0x200000, 1),
                        (0, 0x10001), (1 << 63, 8)]:
        with pytest.raises(GuestMemoryError):
            memory.view(gpa, length)
    with pytest.raises(ValueError):
        memory.add(0x8000, 0x10000)
    memory.close()


def test_region_view_covers_exactly_the_region_holding_an_address():
    memory = GuestMemory()
    memory.add(0, 0x10000)
    memory.add(0x100000, 0x1000)
    start, view = memory.region_view(0x100800)
    assert (start, len(view)) == (0x100000, 0x1000)
    view[0x10] = 0x5A
    assert memory.read(0x100010, 1) == b"\x5a"
    assert memory.region_view(0xFFFF)[0] == 0
    for gpa in (0x10000, 0x101000, -1, 1 << 63):
        with pytest.raises(GuestMemoryError):
            memory.region_view(gpa)
    memory.close()


def test_an_alias_reaches_the_same_ram_and_nothing_beyond_it():
    memory = GuestMemory()
    region = memory.add(0x8000_0000, 0x10000)
    memory.add_alias(region, 1 << 32)
    memory.write(0x1_8000_0100, b"shared")
    assert memory.read(0x8000_0100, 6) == b"shared"
    start, view = memory.region_view(0x1_8000_FFFF)
    assert (start, len(view)) == (0x1_8000_0000, 0x10000)
    assert memory.region_at(0x1_8000_0000) is None  # an alias is no memslot
    for gpa, length in [(0x1_8000_FFFF, 2), (0x1_7FFF_FFFF, 1), (0x1_8001_0000, 1)]:
        with pytest.raises(GuestMemoryError):
            memory.view(gpa, length)
    with pytest.raises(ValueError):
        memory.add_alias(region, 0x8000)
    with pytest.raises(ValueError):
        memory.add(0x1_8000_8000, 0x1000)
    memory.close()
