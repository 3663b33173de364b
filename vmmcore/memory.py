"""Guest RAM: host mappings with bounds-checked, zero-copy access.

Every access by guest physical address goes through :meth:`GuestMemory.view`, which
refuses a range that is not wholly inside one RAM region (or one alias of it), so a bad
guest address becomes a :class:`GuestMemoryError`, never an access outside guest RAM.
"""

from __future__ import annotations

import bisect
import mmap
from dataclasses import dataclass

from .errors import GuestError
from .kvm.cdefs import ffi


class GuestMemoryError(GuestError):
    """A guest physical range that is not (wholly) in guest RAM."""


@dataclass
class RamRegion:
    """One contiguous bank of guest RAM backed by a host mapping (anonymous memory, or
    huge pages from hugetlbfs), and optionally by a guest_memfd for private memory."""

    slot: int
    guest_start: int
    size: int
    mapping: mmap.mmap
    host_addr: int
    #: The hugetlbfs directory the mapping comes from, or None for anonymous memory.
    hugetlbfs: str | None = None
    #: The guest_memfd holding the region's private pages (private memory only).
    guest_memfd: int | None = None

    @property
    def guest_end(self) -> int:
        return self.guest_start + self.size


def map_anonymous(size: int) -> tuple[mmap.mmap, int]:
    """Map ``size`` bytes of private anonymous memory; return it and its address."""
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_NORESERVE", 0)
    mapping = mmap.mmap(-1, size, flags, mmap.PROT_READ | mmap.PROT_WRITE)
    address = int(ffi.cast("uintptr_t", ffi.from_buffer(mapping)))
    return mapping, address


class GuestMemory:
    """The guest's RAM regions, sorted by guest address."""

    def __init__(self) -> None:
        self.regions: list[RamRegion] = []
        #: What accesses look up, sorted by guest address: each region's window and
        #: those of its aliases (:meth:`add_alias`).
        self._starts: list[int] = []
        self._views: list[memoryview] = []
        self._next_slot = 0

    def reserve_slot(self) -> int:
        """A KVM memslot number no RAM region uses, for other guest memory (a device's
        backing pages, a flash array mapped in place)."""
        slot = self._next_slot
        self._next_slot += 1
        return slot

    def add(self, guest_start: int, size: int, hugetlbfs: str | None = None) -> RamRegion:
        """Map a new RAM region at ``guest_start`` (from huge pages in the ``hugetlbfs``
        directory when given); overlapping regions are refused."""
        self._check_free(guest_start, size, "RAM")
        if hugetlbfs is not None:
            from .hugetlbfs import map_hugetlbfs

            mapping, address = map_hugetlbfs(hugetlbfs, size)
        else:
            mapping, address = map_anonymous(size)
        region = RamRegion(self.reserve_slot(), guest_start, size, mapping, address, hugetlbfs)
        self.regions.insert(bisect.bisect([r.guest_start for r in self.regions], guest_start),
                            region)
        self._add_window(guest_start, region)
        return region

    def add_alias(self, region: RamRegion, offset: int) -> None:
        """Let accesses also reach ``region`` at ``guest_start + offset``.

        For a platform whose devices are handed RAM addresses with an extra address
        bit (a second view of the same memory, not a second memslot): the alias
        is only for what vmm itself reads and writes by guest address.
        """
        start = region.guest_start + offset
        self._check_free(start, region.size, "alias")
        self._add_window(start, region)

    def _check_free(self, start: int, size: int, what: str) -> None:
        for window_start, view in zip(self._starts, self._views, strict=True):
            if start < window_start + len(view) and window_start < start + size:
                raise ValueError(f"{what} at {start:#x} overlaps {window_start:#x}")

    def _add_window(self, start: int, region: RamRegion) -> None:
        index = bisect.bisect(self._starts, start)
        self._starts.insert(index, start)
        self._views.insert(index, memoryview(region.mapping))

    @property
    def size(self) -> int:
        return sum(region.size for region in self.regions)

    def region_at(self, gpa: int) -> RamRegion | None:
        """The RAM region at ``gpa`` by its own address (aliases are not regions)."""
        index = bisect.bisect([region.guest_start for region in self.regions], gpa) - 1
        if index >= 0 and gpa < self.regions[index].guest_end:
            return self.regions[index]
        return None

    def contains(self, gpa: int, length: int) -> bool:
        region = self.region_at(gpa)
        return region is not None and length >= 0 and gpa + length <= region.guest_end

    def view(self, gpa: int, length: int) -> memoryview:
        """A writable zero-copy view of ``length`` bytes at guest address ``gpa``."""
        index = bisect.bisect(self._starts, gpa) - 1
        if index >= 0 and length >= 0:
            window = self._views[index]
            offset = gpa - self._starts[index]
            if offset + length <= len(window):
                return window[offset : offset + length]
        raise GuestMemoryError(
            f"guest range {gpa:#x}+{length:#x} is outside guest RAM"
        )

    def region_view(self, gpa: int) -> tuple[int, memoryview]:
        """The guest address and a view of the whole RAM region (or alias) holding ``gpa``.

        For loops that map many small buffers (a virtqueue's descriptors): slice it
        only after checking that a buffer lies inside it, and take anything else to
        :meth:`view`. Raises :class:`GuestMemoryError` if ``gpa`` is not in RAM.
        """
        index = bisect.bisect(self._starts, gpa) - 1
        if index < 0 or gpa >= self._starts[index] + len(self._views[index]):
            raise GuestMemoryError(f"guest address {gpa:#x} is outside guest RAM")
        return self._starts[index], self._views[index]

    def read(self, gpa: int, length: int) -> bytes:
        return bytes(self.view(gpa, length))

    def write(self, gpa: int, data: bytes | bytearray | memoryview) -> None:
        self.view(gpa, len(data))[:] = data

    def read_u(self, gpa: int, size: int) -> int:
        """Read a little-endian unsigned integer of ``size`` bytes."""
        return int.from_bytes(self.view(gpa, size), "little")

    def write_u(self, gpa: int, size: int, value: int) -> None:
        self.view(gpa, size)[:] = value.to_bytes(size, "little")

    def host_address(self, gpa: int, length: int) -> int:
        """The host address of a guest range (checked as :meth:`view`)."""
        self.view(gpa, length)
        region = self.region_at(gpa)
        assert region is not None
        return region.host_addr + (gpa - region.guest_start)

    def close(self) -> None:
        for view in self._views:
            view.release()
        for region in self.regions:
            try:
                region.mapping.close()
            except BufferError:
                pass  # cffi or a device still holds a view; freed at exit
        self.regions.clear()
        self._starts.clear()
        self._views.clear()
