"""A tiny virtio driver for tests: writes split rings into guest memory with ``struct``.

The layouts are restated here with ``struct`` formats on purpose, independently of
the plugin's cffi declarations, so a layout mistake on either side shows up.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from vmm.core.memory import GuestMemory

DESC = struct.Struct("<QIHH")  # addr, len, flags, next
USED_ELEM = struct.Struct("<II")
U16 = struct.Struct("<H")
F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4


@dataclass
class Layout:
    desc: int
    avail: int
    used: int


class Allocator:
    """A bump allocator over a guest address range."""

    def __init__(self, start: int, end: int) -> None:
        self.next = start
        self.end = end

    def take(self, size: int, align: int = 16) -> int:
        base = (self.next + align - 1) & ~(align - 1)
        assert base + size <= self.end, "test guest memory exhausted"
        self.next = base + size
        return base


class RingDriver:
    """The driver side of one split virtqueue."""

    def __init__(self, memory: GuestMemory, alloc: Allocator, size: int) -> None:
        self.memory = memory
        self.alloc = alloc
        self.size = size
        self.layout = Layout(
            alloc.take(16 * size, 16), alloc.take(6 + 2 * size, 2), alloc.take(6 + 8 * size, 4)
        )
        self.next_desc = 0
        self.avail_idx = 0
        self.used_seen = 0

    def write_desc(self, index: int, addr: int, length: int, flags: int, nxt: int = 0,
                   table: int | None = None) -> None:
        base = self.layout.desc if table is None else table
        self.memory.write(base + 16 * index, DESC.pack(addr, length, flags, nxt))

    def publish(self, head: int) -> None:
        ring = self.layout.avail + 4 + 2 * (self.avail_idx % self.size)
        self.memory.write(ring, U16.pack(head))
        self.avail_idx = (self.avail_idx + 1) & 0xFFFF
        self.memory.write(self.layout.avail + 2, U16.pack(self.avail_idx))

    def add(self, buffers: list[tuple[bytes | int, bool]]) -> tuple[int, list[int]]:
        """Make a chain of buffers (bytes to send, or a size to receive; writable?).

        Returns the head and the guest address of each buffer.
        """
        addresses = []
        head = self.next_desc
        for position, (content, writable) in enumerate(buffers):
            length = len(content) if isinstance(content, bytes) else content
            address = self.alloc.take(max(length, 1))
            if isinstance(content, bytes):
                self.memory.write(address, content)
            addresses.append(address)
            index = (head + position) % self.size
            last = position == len(buffers) - 1
            flags = (0 if last else F_NEXT) | (F_WRITE if writable else 0)
            self.write_desc(index, address, length, flags, (index + 1) % self.size)
        self.next_desc = (head + len(buffers)) % self.size
        self.publish(head)
        return head, addresses

    def add_indirect(self, buffers: list[tuple[bytes | int, bool]]) -> tuple[int, list[int]]:
        """The same chain, through one indirect table."""
        table = self.alloc.take(16 * len(buffers))
        addresses = []
        for position, (content, writable) in enumerate(buffers):
            length = len(content) if isinstance(content, bytes) else content
            address = self.alloc.take(max(length, 1))
            if isinstance(content, bytes):
                self.memory.write(address, content)
            addresses.append(address)
            last = position == len(buffers) - 1
            flags = (0 if last else F_NEXT) | (F_WRITE if writable else 0)
            self.write_desc(position, address, length, flags, position + 1, table=table)
        head = self.next_desc
        self.write_desc(head, table, 16 * len(buffers), F_INDIRECT)
        self.next_desc = (head + 1) % self.size
        self.publish(head)
        return head, addresses

    def used(self) -> list[tuple[int, int]]:
        """Used elements the device returned since the last call."""
        idx = U16.unpack(self.memory.read(self.layout.used + 2, 2))[0]
        out = []
        while self.used_seen != idx:
            at = self.layout.used + 4 + 8 * (self.used_seen % self.size)
            out.append(USED_ELEM.unpack(self.memory.read(at, 8)))
            self.used_seen = (self.used_seen + 1) & 0xFFFF
        return out

    def set_used_event(self, value: int) -> None:
        self.memory.write(self.layout.avail + 4 + 2 * self.size, U16.pack(value))

    def avail_event(self) -> int:
        return U16.unpack(self.memory.read(self.layout.used + 4 + 8 * self.size, 2))[0]
