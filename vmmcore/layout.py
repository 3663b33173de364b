"""The guest physical address map an arch plugin describes (``vmm_memory_layout``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from .bus import Bus


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


#: The MMIO window platform devices are allocated from (``Bus.allocate``) by default.
DEVICE_WINDOW = "virtio_mmio"
#: The owner name of guest RAM's windows on the MMIO bus.
RAM_OWNER = "ram"


@dataclass
class MemoryLayout:
    """RAM banks and the machine's named windows.

    Every window is reserved on its bus before any device exists (see
    :func:`reserve_windows`): ``windows`` on the MMIO bus, ``ports`` on the port-I/O
    bus, each for the owner of its name (a built-in device registers with
    ``owner=`` that name). ``device_window`` names the MMIO window shared by the
    devices that ask ``vm.mmio.allocate`` for a place (virtio-mmio, plugins').
    """

    banks: list[Bank]
    windows: dict[str, Bank] = field(default_factory=dict)
    ports: dict[str, Bank] = field(default_factory=dict)
    device_window: str | None = DEVICE_WINDOW

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


def reserve_windows(layout: MemoryLayout, mmio: Bus, pio: Bus) -> None:
    """Reserve every window of ``layout`` and its RAM banks on the buses."""
    for bank in layout.banks:
        mmio.reserve(bank.start, bank.size, RAM_OWNER)
    for name, window in layout.windows.items():
        mmio.reserve(window.start, window.size, name, shared=name == layout.device_window)
    for name, window in layout.ports.items():
        pio.reserve(window.start, window.size, name)
