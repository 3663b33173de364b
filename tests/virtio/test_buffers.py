"""The chain-buffer helpers agree with the same cuts made on plain bytes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from vmm.plugins.virtio import buffers

sizes = st.lists(st.integers(min_value=1, max_value=40), max_size=12)


def views(lengths: list[int]) -> list[memoryview]:
    data = bytearray(range(256)) * 2
    result, offset = [], 0
    for length in lengths:
        result.append(memoryview(data)[offset : offset + length])
        offset += length
    return result


def joined(parts: list[memoryview]) -> bytes:
    return b"".join(parts)


@given(sizes, st.integers(min_value=-5, max_value=500))
def test_split_cuts_where_bytes_would(lengths: list[int], cut: int) -> None:
    parts = views(lengths)
    whole = joined(parts)
    head, tail = buffers.split(parts, cut)
    assert joined(head) == whole[: max(cut, 0)]
    assert joined(tail) == whole[max(cut, 0) :]
    assert all(len(view) for view in head + tail)  # no empty views


@given(sizes, st.integers(min_value=-5, max_value=500))
def test_split_end_keeps_the_last_bytes(lengths: list[int], count: int) -> None:
    parts = views(lengths)
    whole = joined(parts)
    head, tail = buffers.split_end(parts, count)
    keep = max(len(whole) - max(count, 0), 0)
    assert joined(head) == whole[:keep] and joined(tail) == whole[keep:]
    assert all(len(view) for view in head + tail)
    assert buffers.total(parts) == len(whole)


def test_split_shares_whole_buffers_and_writes_reach_them() -> None:
    parts = views([4, 4, 4])
    head, tail = buffers.split(parts, 6)
    assert [len(view) for view in head] == [4, 2] and [len(view) for view in tail] == [2, 4]
    assert head[0] is parts[0] and tail[1] is parts[2]
    tail[0][0] = 0xEE
    assert parts[1][2] == 0xEE
