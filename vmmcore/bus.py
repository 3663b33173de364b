"""Port-I/O and MMIO buses: address ranges mapped to devices, and who owns which range.

Like Firecracker's bus, a device range that overlaps another is refused. Beyond the
devices, a bus knows the machine's windows from the start (the core reserves every
window of the arch plugin's memory layout, and RAM, before any device exists), so a
range is refused when it falls in a window that belongs to something else, whatever
the order in which the devices are added: an in-kernel interrupt controller, a
device a later stage adds, guest RAM. Refusals are :class:`BusConflictError`, one
line naming both owners.

One window per bus may be *shared* (the layout's ``device_window``): ranges in it
are handed out by :meth:`Bus.allocate`, so plugins need not pick addresses.

Lookups use bisection over sorted bases; the windows are consulted only when a
range is registered.
"""

from __future__ import annotations

import bisect
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from .errors import ConfigError


class Device(Protocol):
    """A device on a bus: the two methods a vCPU's access is dispatched to.

    ``offset`` is relative to the base the device was registered at; ``size`` is
    the access width in bytes (1, 2, 4 or 8); values are little-endian integers.
    Both run on the vCPU thread that made the access, so keep them short; a
    device shared by several vCPUs guards its state with a lock.
    """

    def io_read(self, offset: int, size: int) -> int:
        """Return the value of a ``size``-byte read at ``offset`` (little-endian)."""

    def io_write(self, offset: int, size: int, value: int) -> None:
        """Handle a ``size``-byte write of ``value`` at ``offset``."""


@dataclass
class Access:
    """One guest access: address, size, direction and (for writes) the value."""

    addr: int
    size: int
    is_write: bool
    value: int = 0


class BusConflictError(ConfigError, ValueError):
    """A range overlaps a device or a window that belongs to another owner (one line
    naming both)."""


class BusFullError(ConfigError, ValueError):
    """:meth:`Bus.allocate` found no free range of the size asked for."""


class Window(NamedTuple):
    """A reserved range of a bus: ``owner`` is the layout's window name ("uart",
    "gic", "ram"...) or, for an allocation, the owner it was allocated to."""

    base: int
    size: int
    owner: str
    shared: bool = False
    allocated: bool = False

    @property
    def end(self) -> int:
        return self.base + self.size

    def overlaps(self, base: int, size: int) -> bool:
        return base < self.end and self.base < base + size

    def contains(self, base: int, size: int) -> bool:
        return self.base <= base and base + size <= self.end

    def describe(self) -> str:
        if self.shared:
            return (f"{_span(self.base, self.size)}, the shared window {self.owner} "
                    "(ranges there come from allocate())")
        kind = "allocated to" if self.allocated else "reserved for"
        return f"{_span(self.base, self.size)} {kind} {self.owner}"


def _span(base: int, size: int) -> str:
    return f"{base:#x}-{base + size - 1:#x}"


def owner_of(device: object) -> str:
    """The owner named for a device registered without one: its class name."""
    return type(device).__name__


class Bus:
    """Non-overlapping ``[base, base + size)`` device ranges, inside reserved windows.

    :param name: "MMIO" or "port I/O", for messages.
    :param limit: the first address past the bus (0x10000 for port I/O), or None.
    """

    def __init__(self, name: str, limit: int | None = None) -> None:
        self.name = name
        self.limit = limit
        self._bases: list[int] = []
        self._entries: list[tuple[int, int, Device]] = []
        self._owners: dict[int, str] = {}
        self._windows: list[Window] = []

    # ------------------------------------------------------------ windows

    def reserve(self, base: int, size: int, owner: str, *, shared: bool = False) -> None:
        """Reserve a window of the machine for ``owner`` (the core does this for every
        window of the memory layout). Only ``owner``'s devices may be registered in
        it, or, in a ``shared`` window, devices in ranges :meth:`allocate` gave out.

        A window may nest in another (riscv's "plic" in its "irqchip"); a partial
        overlap between windows is a layout bug.
        """
        self._check_range(base, size, owner)
        for window in self._windows:
            if window.overlaps(base, size) and not (window.contains(base, size)
                                                    or Window(base, size, owner).contains(
                                                        window.base, window.size)):
                raise BusConflictError(f"{self.name} window {_span(base, size)} of {owner} "
                                       f"partly overlaps {window.describe()}")
        self._windows.append(Window(base, size, owner, shared=shared))

    def windows(self) -> list[Window]:
        """The reserved windows and allocations, by base."""
        return sorted(self._windows)

    def allocate(self, size: int, owner: str, *, align: int = 0x1000,
                 window: str | None = None) -> int:
        """Give ``owner`` the lowest free, ``align``-ed ``size`` bytes of a shared window
        and return its base; then :meth:`register` the device there.

        On arm64 and riscv the shared window ("virtio_mmio") is where the guest finds
        platform devices through the device tree: describe the device there with a
        node whose ``reg`` is the returned base. Ranges already registered or
        allocated are skipped, so allocations never overlap.

        :param window: the shared window's owner name (default: the bus's shared one).
        :raises BusFullError: when no such range is free.
        """
        if size <= 0 or align <= 0 or align & (align - 1):
            raise ValueError(f"allocate({size:#x}, align={align:#x}): size must be positive "
                             "and align a power of two")
        pools = [w for w in self._windows if w.shared and window in (None, w.owner)]
        if not pools:
            raise BusFullError(f"the {self.name} bus has no shared window "
                               f"{window or ''} to allocate {size:#x} bytes from".replace("  ", " "))
        pool = pools[0]
        taken = sorted([(b, b + s) for b, s, _ in self._entries]
                       + [(w.base, w.end) for w in self._windows if w.allocated])
        base = (pool.base + align - 1) & ~(align - 1)
        for start, end in taken:
            if base + size <= start:
                break
            if end > base:
                base = (end + align - 1) & ~(align - 1)
        if base + size > pool.end:
            raise BusFullError(f"no free {size:#x} bytes left in the {self.name} window "
                               f"{_span(pool.base, pool.size)} for {owner}")
        self._windows.append(Window(base, size, owner, allocated=True))
        return base

    # ------------------------------------------------------------ devices

    def register(self, base: int, size: int, device: Device, owner: str | None = None) -> None:
        """Put ``device`` at ``[base, base + size)``.

        :param owner: who the range belongs to: your plugin's name, or for a built-in
            device the name of its layout window ("uart", "plic"...). Default: the
            device's class name.
        :raises BusConflictError: when the range overlaps another device, a window
            reserved for another owner, or a shared window outside an allocation of
            ``owner``'s; the one-line message names both owners.
        """
        owner = owner or owner_of(device)
        self._check_range(base, size, owner)
        index = bisect.bisect(self._bases, base)
        for neighbour in (index - 1, index):
            if 0 <= neighbour < len(self._entries):
                other_base, other_size, _ = self._entries[neighbour]
                if other_base < base + size and base < other_base + other_size:
                    raise BusConflictError(
                        f"{self.name} range {_span(base, size)} of {owner} overlaps "
                        f"{_span(other_base, other_size)} of {self._owners[other_base]}")
        blocking = self._blocking_window(base, size, owner)
        if blocking is not None:
            raise BusConflictError(f"{self.name} range {_span(base, size)} of {owner} "
                                   f"overlaps {blocking.describe()}")
        self._bases.insert(index, base)
        self._entries.insert(index, (base, size, device))
        self._owners[base] = owner

    def _blocking_window(self, base: int, size: int, owner: str) -> Window | None:
        """The smallest window ``owner`` may not use that the range overlaps, or None.

        ``owner`` may use its own windows and allocations, the windows enclosing one
        of its own (riscv's "irqchip" around "plic"), and a shared window where the
        range lies in an allocation of its own.
        """
        overlapped = [w for w in self._windows if w.overlaps(base, size)]
        own = [w for w in overlapped if w.owner == owner and w.contains(base, size)]
        blocking = [
            w for w in overlapped
            if w.owner != owner
            and not (w.shared and own)
            and not any(w.contains(mine.base, mine.size) for mine in own)
        ]
        if not blocking:
            return None
        smallest = min(blocking, key=lambda w: w.size)
        # windows on the same range are alternatives (riscv's "plic" or "imsic"): name all
        same = sorted({w.owner for w in blocking if (w.base, w.size) == smallest[:2]})
        return smallest._replace(owner=" or ".join(same))

    def _check_range(self, base: int, size: int, owner: str) -> None:
        if size <= 0 or base < 0:
            raise BusConflictError(f"{self.name} range of {owner} at {base:#x} has no size")
        if self.limit is not None and base + size > self.limit:
            raise BusConflictError(f"{self.name} range {_span(base, size)} of {owner} is past "
                                   f"the end of the bus ({self.limit:#x})")

    def unregister(self, base: int) -> None:
        """Take the device registered at ``base`` off the bus (nothing if none)."""
        index = bisect.bisect_left(self._bases, base)
        if index < len(self._bases) and self._bases[index] == base:
            del self._bases[index]
            del self._entries[index]
            self._owners.pop(base, None)

    def owner(self, base: int) -> str | None:
        """The owner of the device registered at ``base``, or None."""
        return self._owners.get(base)

    # ------------------------------------------------------------ dispatch

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
