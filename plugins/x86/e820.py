"""The e820 memory map handed to the guest, built from the VM's memory layout
(:mod:`.layout`)."""

from __future__ import annotations

import logging

from vmm.core.layout import MemoryLayout

from . import layout as m
from .state import E820Entry

log = logging.getLogger(__name__)

E820_RAM = 1
E820_RESERVED = 2
E820_TYPE_NAMES = {E820_RAM: "usable", E820_RESERVED: "reserved"}


def build_e820(layout: MemoryLayout) -> list[E820Entry]:
    """The e820 map of ``layout``: base memory, the BIOS hole, then the RAM banks.

    The EBDA (where the MP table lives) and the VGA/BIOS area up to 1 MiB are
    reserved; RAM above 1 MiB in the first bank and every other bank is usable.
    """
    first = layout.banks[0]
    if first.start != 0 or first.size <= m.HIGH_MEMORY:
        raise ValueError("x86 needs RAM from address 0 past 1 MiB")
    entries = [
        E820Entry(0, m.EBDA_ADDR, E820_RAM),
        E820Entry(m.EBDA_ADDR, m.HIGH_MEMORY - m.EBDA_ADDR, E820_RESERVED),
        E820Entry(m.HIGH_MEMORY, first.end - m.HIGH_MEMORY, E820_RAM),
    ]
    entries += [E820Entry(bank.start, bank.size, E820_RAM) for bank in layout.banks[1:]]
    return entries


def format_e820(entries: list[E820Entry]) -> list[str]:
    """The map as Linux prints it (``BIOS-e820: [mem 0x...-0x...] usable``)."""
    return [
        f"BIOS-e820: [mem {entry.addr:#018x}-{entry.end - 1:#018x}] "
        f"{E820_TYPE_NAMES.get(entry.type, f'type {entry.type}')}"
        for entry in entries
    ]


def log_e820(entries: list[E820Entry]) -> None:
    """Log the map vmm built at debug level (``--debug`` shows it)."""
    for line in format_e820(entries):
        log.debug("e820: %s", line)
