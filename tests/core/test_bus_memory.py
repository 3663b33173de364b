"""The bus refuses overlapping ranges; guest memory refuses ranges outside RAM."""

from __future__ import annotations

import pytest

from vmm.core.bus import Bus, BusConflictError, BusFullError
from vmm.core.errors import ConfigError
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


def test_conflicts_name_both_owners_in_one_line_whatever_the_order():
    for first, second in [("alpha", "beta"), ("beta", "alpha")]:
        bus = Bus("MMIO")
        bus.register(0x1000, 0x100, Reg(), owner=first)
        with pytest.raises(BusConflictError) as caught:
            bus.register(0x10F0, 0x20, Reg(), owner=second)
        assert str(caught.value) == (f"MMIO range 0x10f0-0x110f of {second} overlaps "
                                     f"0x1000-0x10ff of {first}")
    assert issubclass(BusConflictError, ConfigError)


def test_windows_admit_only_their_owner_and_nest():
    bus = Bus("MMIO")
    bus.reserve(0x0, 0x10000, "ioport")
    bus.reserve(0x3F8, 8, "uart")                    # nested in "ioport"
    bus.reserve(0x8000_0000, 0x1000_0000, "ram")
    bus.register(0x3F8, 8, Reg(), owner="uart")      # its own window, inside the enclosing one
    for base, holder in [(0x100, "ioport"), (0x3F8, "uart"), (0x8000_1000, "ram")]:
        with pytest.raises(BusConflictError, match=f"of mine overlaps .* (for|of) {holder}$"):
            bus.register(base, 4, Reg(), owner="mine")
    with pytest.raises(BusConflictError, match="partly overlaps"):
        bus.reserve(0xFFF0, 0x20, "straddler")
    bus.register(0x2_0000, 4, Reg(), owner="mine")   # nobody's: fine


def test_allocations_are_aligned_disjoint_and_skip_taken_ranges():
    bus = Bus("MMIO")
    bus.reserve(0x1000_0000, 0x10000, "virtio_mmio", shared=True)
    with pytest.raises(BusConflictError, match="shared window virtio_mmio"):
        bus.register(0x1000_0000, 0x200, Reg(), owner="fixed")
    first = bus.allocate(0x200, "virtio-mmio", align=0x200)
    bus.register(first, 0x200, Reg(), owner="virtio-mmio")
    second = bus.allocate(0x1000, "mine")
    third = bus.allocate(8, "other", align=8)
    assert (first, second, third) == (0x1000_0000, 0x1000_1000, 0x1000_0200)
    with pytest.raises(BusConflictError, match="allocated to mine"):
        bus.register(second, 8, Reg(), owner="other")
    bus.register(second, 0x1000, Reg(), owner="mine")
    with pytest.raises(BusFullError, match="no free 0x10000 bytes"):
        bus.allocate(0x10000, "greedy")


def test_port_bus_ends_at_64k():
    bus = Bus("port I/O", limit=0x1_0000)
    bus.register(0xFFFC, 4, Reg())
    with pytest.raises(BusConflictError, match="past the end of the bus"):
        bus.register(0xFFFE, 4, Reg(), owner="mine")
