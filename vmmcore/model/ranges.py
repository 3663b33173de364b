"""A set of address ranges, kept as sorted disjoint intervals (the model's memory
attributes: which guest pages are private)."""

from __future__ import annotations

import bisect


class RangeSet:
    """Half-open ``[start, end)`` ranges; adding merges, removing splits."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def add(self, start: int, end: int) -> None:
        """Include ``[start, end)``."""
        if end <= start:
            return
        self.remove(start, end)
        index = bisect.bisect(self._starts, start)
        self._starts.insert(index, start)
        self._ends.insert(index, end)
        self._merge_around(index)

    def remove(self, start: int, end: int) -> None:
        """Exclude ``[start, end)``."""
        kept: list[tuple[int, int]] = []
        for low, high in zip(self._starts, self._ends, strict=True):
            if high <= start or low >= end:
                kept.append((low, high))
                continue
            if low < start:
                kept.append((low, start))
            if high > end:
                kept.append((end, high))
        self._starts = [low for low, _ in kept]
        self._ends = [high for _, high in kept]

    def covers(self, start: int, end: int) -> bool:
        """Whether every address of ``[start, end)`` is in the set."""
        index = bisect.bisect(self._starts, start) - 1
        return index >= 0 and self._ends[index] >= end

    def intervals(self) -> list[tuple[int, int]]:
        """The ranges, sorted."""
        return list(zip(self._starts, self._ends, strict=True))

    def _merge_around(self, index: int) -> None:
        """Join the range at ``index`` with touching neighbours."""
        if index + 1 < len(self._starts) and self._starts[index + 1] == self._ends[index]:
            self._ends[index] = self._ends.pop(index + 1)
            self._starts.pop(index + 1)
        if index > 0 and self._ends[index - 1] == self._starts[index]:
            self._ends[index - 1] = self._ends.pop(index)
            self._starts.pop(index)
