"""Split virtqueues (virtio 1.2, 2.7): the device side, hardened against bad guests.

The driver owns three areas in guest memory: the descriptor table, the available
ring and the used ring. :class:`Virtqueue` maps them through bounds-checked
``GuestMemory`` views when the queue is activated, so a queue whose areas are not in
guest RAM is refused there. :meth:`Virtqueue.pop` walks one descriptor chain and
checks every step before touching memory: a head or ``next`` index beyond the table,
a loop (more steps than the table has entries), a zero length, a buffer outside guest
RAM, a readable buffer after a writable one, a nested or badly sized indirect table.
Any of these raises :class:`ChainError`; the buffers of a good chain come back as
zero-copy ``memoryview`` slices of guest RAM, split into the driver's readable and
writable buffers, so a device can't write where the driver didn't allow it.

Notifications follow VIRTIO_F_EVENT_IDX when it was negotiated (``used_event`` and
``avail_event``), else the NO_INTERRUPT flag.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from vmm.core.errors import GuestError
from vmm.core.memory import GuestMemory, GuestMemoryError

from .cdefs import ffi, offsetof, sizeof, struct_format
from .constants import (
    MAX_QUEUE_SIZE,
    VIRTQ_AVAIL_F_NO_INTERRUPT,
    VIRTQ_DESC_F_INDIRECT,
    VIRTQ_DESC_F_NEXT,
    VIRTQ_DESC_F_WRITE,
)

DESC = struct_format("struct virtq_desc")  # addr, len, flags, next
DESC_SIZE = DESC.size
AVAIL_RING = offsetof("struct virtq_avail", "ring")
USED_RING = offsetof("struct virtq_used", "ring")
USED_ELEM_SIZE = sizeof("struct virtq_used_elem")
RING_ENTRY_SIZE = ffi.sizeof("uint16_t")
# Alignment the specification requires of each area (2.7: table 16, avail 2, used 4).
DESC_ALIGN = 16
AVAIL_ALIGN = 2
USED_ALIGN = 4
INDEX_MASK = 0xFFFF


class ChainError(GuestError):
    """A descriptor chain (or ring) the driver wrote breaks the rules."""


class QueueSetupError(GuestError):
    """The driver enabled a queue whose areas are misplaced or missized."""


_BARRIER = threading.Lock()
_BARRIER.acquire()


def memory_barrier() -> None:
    """Order this thread's guest-memory accesses before and after the call.

    Releasing then re-acquiring a lock is a release followed by an acquire, which the
    C11 model (and arm64's RCsc stlr/ldar) keeps in order: accesses before the call
    become visible before those after it, as the specification's barriers require
    between filling the used ring and publishing its index.
    """
    _BARRIER.release()
    _BARRIER.acquire()


@dataclass
class Chain:
    """One descriptor chain: its head index and its buffers in guest memory."""

    head: int
    readable: list[memoryview] = field(default_factory=list)
    writable: list[memoryview] = field(default_factory=list)

    @property
    def readable_length(self) -> int:
        return sum(map(len, self.readable))

    @property
    def writable_length(self) -> int:
        return sum(map(len, self.writable))


class Virtqueue:
    """One split virtqueue: its configuration (set by a transport) and its rings."""

    def __init__(self, index: int, max_size: int) -> None:
        if not 0 < max_size <= MAX_QUEUE_SIZE or max_size & (max_size - 1):
            raise ValueError(f"queue size {max_size} is not a power of two up to 32768")
        self.index = index
        self.max_size = max_size
        self.reset()

    def reset(self) -> None:
        """Forget the driver's configuration and the rings (device reset)."""
        self.size = self.max_size
        self.ready = False
        self.desc_addr = 0
        self.avail_addr = 0
        self.used_addr = 0
        #: MSI-X vector (virtio-pci); unused by virtio-mmio.
        self.msix_vector = 0xFFFF
        self.event_idx = False
        self.indirect = False
        self.broken = False
        self._release()

    def _release(self) -> None:
        self._desc_bytes: memoryview | None = None
        self._avail: Any = None
        self._avail_ring: Any = None
        self._used: Any = None
        self._used_ring: Any = None
        self._avail_event: Any = None
        self.last_avail = 0
        self.used_idx = 0
        self.signalled_used = 0
        self._memory: GuestMemory | None = None

    # ------------------------------------------------------------ activation

    def activate(self, memory: GuestMemory, *, event_idx: bool, indirect: bool) -> None:
        """Map the three areas in guest memory; raise QueueSetupError if impossible."""
        size = self.size
        if not 0 < size <= self.max_size or size & (size - 1):
            raise QueueSetupError(f"queue {self.index}: size {size} is not allowed")
        for name, address, align in (
            ("descriptor table", self.desc_addr, DESC_ALIGN),
            ("available ring", self.avail_addr, AVAIL_ALIGN),
            ("used ring", self.used_addr, USED_ALIGN),
        ):
            if address % align:
                raise QueueSetupError(f"queue {self.index}: {name} at {address:#x} is misaligned")
        try:
            desc = memory.view(self.desc_addr, size * DESC_SIZE)
            avail = memory.view(self.avail_addr, AVAIL_RING + (size + 1) * RING_ENTRY_SIZE)
            used_ring_bytes = size * USED_ELEM_SIZE
            used = memory.view(self.used_addr, USED_RING + used_ring_bytes + RING_ENTRY_SIZE)
        except GuestMemoryError as error:
            raise QueueSetupError(f"queue {self.index}: {error}") from None
        self._memory = memory
        self._desc_bytes = desc
        self._avail = ffi.from_buffer("struct virtq_avail *", avail)
        self._avail_ring = ffi.from_buffer("uint16_t[]", avail[AVAIL_RING:])
        self._used = ffi.from_buffer("struct virtq_used *", used)
        self._used_ring = ffi.from_buffer(
            "struct virtq_used_elem[]", used[USED_RING : USED_RING + used_ring_bytes]
        )
        self._avail_event = ffi.from_buffer("uint16_t[]", used[USED_RING + used_ring_bytes :])
        self.event_idx = event_idx
        self.indirect = indirect
        self.last_avail = 0
        self.used_idx = self._used.idx
        self.signalled_used = self.used_idx
        self.broken = False

    def deactivate(self) -> None:
        """Drop the mappings (the queue keeps its configuration)."""
        self._release()

    @property
    def active(self) -> bool:
        return self._desc_bytes is not None

    # ------------------------------------------------------------ popping chains

    def has_available(self) -> bool:
        """True when the driver made a chain available that was not popped yet."""
        return self._avail is not None and self._avail.idx != self.last_avail

    def pop(self) -> Chain | None:
        """The next available chain, or None. Raises ChainError for a bad one."""
        avail = self._avail
        if avail is None or self.broken:
            return None
        available = (avail.idx - self.last_avail) & INDEX_MASK
        if available == 0:
            return None
        if available > self.size:
            self.broken = True
            raise ChainError(
                f"queue {self.index}: available index moved by {available} (> {self.size})"
            )
        memory_barrier()  # read the ring entry after the index that published it
        head = self._avail_ring[self.last_avail % self.size]
        self.last_avail = (self.last_avail + 1) & INDEX_MASK
        return self.walk(head)

    def unpop(self) -> None:
        """Give back the chain :meth:`pop` returned last (the device had no data)."""
        self.last_avail = (self.last_avail - 1) & INDEX_MASK

    def walk(self, head: int) -> Chain:
        """Validate the chain starting at descriptor ``head`` and map its buffers.

        Each descriptor is read once, whole (one ``unpack_from``), so the checks and
        the use see the same values even if the driver rewrites it meanwhile.
        """
        memory = self._memory
        assert memory is not None
        unpack = DESC.unpack_from
        chain = Chain(head)
        readable, writable = chain.readable, chain.writable
        table = self._desc_bytes
        assert table is not None  # set with _memory by activate()
        entries: list[tuple[int, int, int, int]] | None = None  # an indirect table's
        table_size = self.size
        span_start, span, span_size = 0, memoryview(b""), 0  # the last RAM region used
        index = head
        steps = 0
        while True:
            if index >= table_size:
                raise ChainError(
                    f"queue {self.index}: descriptor {index} is beyond a table of {table_size}"
                )
            steps += 1
            if steps > table_size:
                raise ChainError(f"queue {self.index}: the chain at {head} loops")
            if entries is None:
                address, length, flags, next_index = unpack(table, index * DESC_SIZE)
            else:
                address, length, flags, next_index = entries[index]
            if flags & VIRTQ_DESC_F_INDIRECT:
                entries = self._indirect_table(memory, address, length, flags, entries is not None)
                table_size = len(entries)
                index = 0
                steps = 0
                continue
            if length == 0:
                raise ChainError(f"queue {self.index}: descriptor {index} has length 0")
            offset = address - span_start
            if 0 <= offset and offset + length <= span_size:
                buffer = span[offset : offset + length]
            else:
                try:
                    buffer = memory.view(address, length)
                except GuestMemoryError as error:
                    raise ChainError(f"queue {self.index}: descriptor {index}: {error}") from None
                span_start, span = memory.region_view(address)
                span_size = len(span)
            if flags & VIRTQ_DESC_F_WRITE:
                writable.append(buffer)
            elif writable:
                raise ChainError(
                    f"queue {self.index}: readable descriptor {index} after a writable one"
                )
            else:
                readable.append(buffer)
            if not flags & VIRTQ_DESC_F_NEXT:
                return chain
            index = next_index

    def _indirect_table(self, memory: GuestMemory, address: int, length: int, flags: int,
                        in_indirect: bool) -> list[tuple[int, int, int, int]]:
        """Read the indirect table a descriptor points at, after checking the rules.

        Its entries are read all at once (the driver may not change them while the
        chain is available, and a copy keeps a driver that does from racing the checks).
        """
        if not self.indirect:
            raise ChainError(f"queue {self.index}: indirect descriptor without the feature")
        if in_indirect:
            raise ChainError(f"queue {self.index}: indirect descriptor inside an indirect table")
        if flags & VIRTQ_DESC_F_NEXT:
            raise ChainError(f"queue {self.index}: indirect descriptor with NEXT set")
        if length == 0 or length % DESC_SIZE:
            raise ChainError(f"queue {self.index}: indirect table of {length} bytes")
        entries = length // DESC_SIZE
        if entries > self.size:
            raise ChainError(
                f"queue {self.index}: indirect table of {entries} entries is longer than the queue"
            )
        try:
            return list(DESC.iter_unpack(memory.view(address, length)))
        except GuestMemoryError as error:
            raise ChainError(f"queue {self.index}: indirect table: {error}") from None

    # ------------------------------------------------------------ used ring

    def push(self, head: int, written: int) -> None:
        """Return chain ``head`` to the driver with ``written`` bytes written."""
        used = self._used
        if used is None:
            return
        elem = self._used_ring[self.used_idx % self.size]
        elem.id = head
        elem.len = written
        self.used_idx = (self.used_idx + 1) & INDEX_MASK
        memory_barrier()  # the element is visible before the index that publishes it
        used.idx = self.used_idx

    def enable_notifications(self) -> bool:
        """Ask the driver to notify again; True if more chains came meanwhile.

        With VIRTIO_F_EVENT_IDX the device writes ``avail_event`` (the index it has
        reached); a device loop calls this when :meth:`pop` returned None and pops
        again while it returns True.
        """
        if self._avail is None:
            return False
        if self.event_idx:
            self._avail_event[0] = self.last_avail
        memory_barrier()
        return self._avail.idx != self.last_avail

    def needs_interrupt(self) -> bool:
        """Whether the driver wants an interrupt for the chains pushed since the last one."""
        if self._avail is None:
            return False
        memory_barrier()  # read the driver's event index after publishing used entries
        new = self.used_idx
        old = self.signalled_used
        self.signalled_used = new
        if self.event_idx:
            used_event = self._avail_ring[self.size]
            return (new - used_event - 1) & INDEX_MASK < (new - old) & INDEX_MASK
        return not self._avail.flags & VIRTQ_AVAIL_F_NO_INTERRUPT
