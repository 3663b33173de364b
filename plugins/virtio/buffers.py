"""Helpers over a chain's buffers (lists of guest-memory views), without copies.

The specification lets a driver split a request's parts across descriptors any way
it likes (2.7.4: message framing), so devices read headers with :func:`gather` and
carve data out with :func:`split`, which slice the views instead of copying them.
"""

from __future__ import annotations


def split(buffers: list[memoryview], length: int) -> tuple[list[memoryview], list[memoryview]]:
    """The first ``length`` bytes of ``buffers`` and the rest, as lists of views."""
    head: list[memoryview] = []
    tail: list[memoryview] = []
    remaining = length
    for buffer in buffers:
        if remaining <= 0:
            tail.append(buffer)
        elif len(buffer) <= remaining:
            head.append(buffer)
            remaining -= len(buffer)
        else:
            head.append(buffer[:remaining])
            tail.append(buffer[remaining:])
            remaining = 0
    return head, tail


def split_end(buffers: list[memoryview], length: int) -> tuple[list[memoryview], list[memoryview]]:
    """All of ``buffers`` but the last ``length`` bytes, and those last bytes."""
    total = sum(len(buffer) for buffer in buffers)
    return split(buffers, max(total - length, 0))


def total(buffers: list[memoryview]) -> int:
    """How many bytes ``buffers`` hold."""
    return sum(len(buffer) for buffer in buffers)


def gather(buffers: list[memoryview], length: int) -> bytes | None:
    """Copy the first ``length`` bytes (a small header); None if there are fewer."""
    head, _ = split(buffers, length)
    data = b"".join(head)
    return data if len(data) == length else None


def scatter(buffers: list[memoryview], data: bytes) -> int:
    """Copy ``data`` into ``buffers`` in order; return how many bytes fit."""
    offset = 0
    for buffer in buffers:
        if offset >= len(data):
            break
        count = min(len(buffer), len(data) - offset)
        buffer[:count] = data[offset : offset + count]
        offset += count
    return offset


def write_at(buffers: list[memoryview], offset: int, data: bytes) -> bool:
    """Copy ``data`` at byte ``offset`` of ``buffers``; False if it doesn't fit."""
    _, tail = split(buffers, offset)
    if total(tail) < len(data) or total(buffers) < offset:
        return False
    scatter(tail, data)
    return True
