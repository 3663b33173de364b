"""The guest physical address map an arch plugin describes (``vmm_memory_layout``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


def align_up(value: int, alignment: int) -> int:
    """``value`` rounded up to a multiple of ``alignment`` (a power of two)."""
    return (value + alignment - 1) & ~(alignment - 1)


def align_down(value: int, alignment: int) -> int:
    """``value`` rounded down to a multiple of ``alignment`` (a power of two)."""
    return value & ~(alignment - 1)


# A NamedTuple, not a frozen dataclass: nothing is generated and exec'd at import
# (a frozen dataclass costs ~0.4 ms of every start-up).
class Bank(NamedTuple):
    """A RAM bank: guest start and size in bytes."""

    start: int
    size: int

    @property
    def end(self) -> int:
        return self.start + self.size


@dataclass
class MemoryLayout:
    """RAM banks and named MMIO windows (for device placement)."""

    banks: list[Bank]
    windows: dict[str, Bank] = field(default_factory=dict)

    @property
    def ram_start(self) -> int:
        return self.banks[0].start

    @property
    def ram_end(self) -> int:
        return max(bank.end for bank in self.banks)

    @property
    def ram_size(self) -> int:
        return sum(bank.size for bank in self.banks)


class WindowAllocator:
    """Hands out aligned, non-overlapping ranges from an MMIO window."""

    def __init__(self, window: Bank) -> None:
        self.window = window
        self._next = window.start

    def allocate(self, size: int, align: int = 0x1000) -> int:
        base = (self._next + align - 1) & ~(align - 1)
        if base + size > self.window.end:
            raise ValueError(f"MMIO window at {self.window.start:#x} is full")
        self._next = base + size
        return base
