"""Helpers over a chain's buffers (lists of guest-memory views), without copies.

The specification lets a driver split a request's parts across descriptors any way
it likes (2.7.4: message framing), so devices read headers with :func:`gather` and
carve data out with :func:`split`, which slice the views instead of copying them.
"""

from __future__ import annotations


def split(buffers: list[memoryview], length: int) -> tuple[list[memoryview], list[memoryview]]:
    """The first ``length`` bytes of ``buffers`` and the rest, as lists of views.

    Whole buffers on either side are shared by list slicing; at most the one buffer
    holding the cut is sliced in two.
    """
    remaining = length
    if remaining <= 0:
        return [], list(buffers)
    for index, buffer in enumerate(buffers):
        size = len(buffer)
        if size >= remaining:
            if size == remaining:
                return buffers[: index + 1], buffers[index + 1 :]
            return ([*buffers[:index], buffer[:remaining]],
                    [buffer[remaining:], *buffers[index + 1 :]])
        remaining -= size
    return list(buffers), []


def split_end(buffers: list[memoryview], length: int) -> tuple[list[memoryview], list[memoryview]]:
    """All of ``buffers`` but the last ``length`` bytes, and those last bytes."""
    remaining = length
    if remaining <= 0:
        return list(buffers), []
    for index in range(len(buffers) - 1, -1, -1):
        buffer = buffers[index]
        size = len(buffer)
        if size >= remaining:
            cut = size - remaining
            if cut == 0:
                return buffers[:index], buffers[index:]
            return [*buffers[:index], buffer[:cut]], [buffer[cut:], *buffers[index + 1 :]]
        remaining -= size
    return [], list(buffers)


def total(buffers: list[memoryview]) -> int:
    """How many bytes ``buffers`` hold."""
    return sum(map(len, buffers))


def gather(buffers: list[memoryview], length: int) -> bytes | None:
    """Copy the first ``length`` bytes (a small header); None if there are fewer."""
    head, _ = split(buffers, length)
    data = b"".join(head)
    return data if len(data) == length else None


def scatter(buffers: list[memoryview], data: bytes | memoryview) -> int:
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
