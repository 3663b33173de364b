"""The RTT entries an RMM 1.0 RMI_RTT_INIT_RIPAS(base, top) walks, hence measures.

In RMM 1.0 an INIT_RIPAS call walks to the deepest existing table (RTT) containing
``base`` and emits one RIPAS descriptor per entry of *that one table*, moving on while
the entry ends at or below ``top``; it returns where it stopped and the host calls it
again from there. So the RIM depends on the shape the host gave its RTTs: a 2 MiB
range mapped by one level-2 block entry gives one descriptor, the same range under a
level-3 table gives 512.

Policy (the one cca-realm-measurements' Realm VM specification asks hosts for):

- 4 KiB translation granule; 512 entries per table; an entry at level L spans
  ``4 KiB << 9 * (3 - L)`` bytes.
- The starting level is the deepest one (at most level 2) whose tables, up to 16 of
  them concatenated, cover the IPA width: 33 bits start at level 2, 48 at level 0.
- Every level from the starting level down to 3 may hold an entry; no entry is larger
  than a starting-level entry.
- The host covers a range with the largest entry that is aligned at the current
  address and ends at or below ``top`` (greedy, like ``find_block_size``), so a
  33-bit realm gets 2 MiB blocks wherever they fit and 4 KiB pages elsewhere.

Under this policy every entry of one call has the same size, and a call ends at the
end of its table or where the next entry would pass ``top``. RIPAS applies only to
the protected half of the IPA space (below ``1 << (ipa_bits - 1)``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import MeasurementError

#: log2 of the 4 KiB translation granule.
GRANULE_SHIFT = 12
#: Bits of IPA each table level resolves: 512 eight-byte entries per 4 KiB table.
BITS_PER_LEVEL = 9
ENTRIES_PER_TABLE = 1 << BITS_PER_LEVEL
#: The page level: its entries map single 4 KiB granules.
LAST_LEVEL = 3
#: Deepest starting level we use (a level-3 start needs FEAT_TTST).
DEEPEST_START_LEVEL = 2
SHALLOWEST_START_LEVEL = 0
#: log2 of the most tables the architecture lets a stage-2 start level concatenate (16).
CONCATENATION_BITS = 4
#: IPA widths a 4 KiB-granule stage 2 can describe (52 needs FEAT_LPA2).
MIN_IPA_BITS = 16
MAX_IPA_BITS = 52


def entry_size(level: int) -> int:
    """Bytes one RTT entry at ``level`` maps."""
    if not -1 <= level <= LAST_LEVEL:
        raise MeasurementError(f"RTT level {level} does not exist (levels are -1..{LAST_LEVEL})")
    return 1 << (GRANULE_SHIFT + BITS_PER_LEVEL * (LAST_LEVEL - level))


def table_span(level: int) -> int:
    """Bytes one table whose entries are at ``level`` maps."""
    return entry_size(level) * ENTRIES_PER_TABLE


def starting_level(ipa_bits: int) -> int:
    """The deepest level whose (concatenated) tables cover ``ipa_bits`` of IPA."""
    _check_ipa_bits(ipa_bits)
    for level in range(DEEPEST_START_LEVEL, SHALLOWEST_START_LEVEL - 1, -1):
        if ipa_bits <= table_span(level).bit_length() - 1 + CONCATENATION_BITS:
            return level
    raise MeasurementError(f"no RTT starting level covers {ipa_bits} IPA bits")  # pragma: no cover


def block_size_mask(ipa_bits: int) -> int:
    """The entry sizes an RTT for ``ipa_bits`` may hold, OR-ed into one mask.

    For example 33 bits give 2 MiB | 4 KiB and 48 bits 512 GiB | 1 GiB | 2 MiB | 4 KiB
    (the same values as cca-realm-measurements' ``translation_block_sizes``).
    """
    mask = 0
    for level in range(starting_level(ipa_bits), LAST_LEVEL + 1):
        mask |= entry_size(level)
    return mask


def protected_limit(ipa_bits: int) -> int:
    """The first unprotected IPA: the top IPA bit marks unprotected (shared) memory."""
    _check_ipa_bits(ipa_bits)
    return 1 << (ipa_bits - 1)


@dataclass(frozen=True)
class RttEntry:
    """One RTT entry: the ``entry_size(level)`` bytes from ``base``."""

    base: int
    level: int

    @property
    def size(self) -> int:
        """Bytes this entry maps."""
        return entry_size(self.level)

    @property
    def top(self) -> int:
        """First IPA after this entry."""
        return self.base + self.size


def init_ripas_call(base: int, top: int, ipa_bits: int) -> tuple[list[RttEntry], int]:
    """The entries one RMI_RTT_INIT_RIPAS(base, top) call walks, and the ``out_top``
    it returns (the host's next ``base`` if it is below ``top``)."""
    check_ripas_range(base, top, ipa_bits)
    level = _largest_level_fitting(base, top, ipa_bits)
    size = entry_size(level)
    table_end = (base // table_span(level) + 1) * table_span(level)
    end = min(table_end, base + (top - base) // size * size)
    entries = [RttEntry(address, level) for address in range(base, end, size)]
    return entries, end


def ripas_entries(base: int, top: int, ipa_bits: int) -> list[RttEntry]:
    """Every RTT entry the host's INIT_RIPAS calls walk to cover ``[base, top)``."""
    check_ripas_range(base, top, ipa_bits)
    entries: list[RttEntry] = []
    while base < top:
        call_entries, base = init_ripas_call(base, top, ipa_bits)
        entries.extend(call_entries)
    return entries


def entries_at_level(base: int, top: int, level: int, ipa_bits: int) -> list[RttEntry]:
    """The level-``level`` entries covering ``[base, top)``: one RMM 1.0 INIT_RIPAS call
    as the RMM walked it (entries of one table, so ``base`` and ``top`` are aligned)."""
    check_ripas_range(base, top, ipa_bits)
    first = starting_level(ipa_bits)
    if not first <= level <= LAST_LEVEL:
        raise MeasurementError(
            f"RTT level {level} is outside {first}..{LAST_LEVEL} for a {ipa_bits}-bit realm"
        )
    size = entry_size(level)
    if base % size or top % size:
        raise MeasurementError(
            f"RIPAS range {base:#x}..{top:#x} is not whole level-{level} entries ({size:#x} bytes)"
        )
    return [RttEntry(address, level) for address in range(base, top, size)]


def check_ripas_range(base: int, top: int, ipa_bits: int) -> None:
    """Refuse a range INIT_RIPAS cannot take: unaligned, empty or not protected."""
    granule = 1 << GRANULE_SHIFT
    if base % granule or top % granule:
        raise MeasurementError(f"RIPAS range {base:#x}..{top:#x} is not 4 KiB aligned")
    if top <= base:
        raise MeasurementError(f"RIPAS range {base:#x}..{top:#x} is empty (top must be above base)")
    limit = protected_limit(ipa_bits)
    if top > limit:
        raise MeasurementError(
            f"RIPAS range {base:#x}..{top:#x} passes the protected IPA limit {limit:#x} "
            f"of a {ipa_bits}-bit realm"
        )


def check_ripas_block(ipa: int, level: int, ipa_bits: int) -> None:
    """Refuse a beta0 INIT_RIPAS(ipa, level) the RTT of ``ipa_bits`` cannot hold."""
    first = starting_level(ipa_bits)
    if not first <= level <= LAST_LEVEL:
        raise MeasurementError(
            f"RTT level {level} is outside {first}..{LAST_LEVEL} for a {ipa_bits}-bit realm"
        )
    size = entry_size(level)
    if ipa % size:
        raise MeasurementError(f"ipa {ipa:#x} is not aligned to a level-{level} entry ({size:#x} bytes)")
    limit = protected_limit(ipa_bits)
    if ipa + size > limit:
        raise MeasurementError(
            f"level-{level} entry at {ipa:#x} passes the protected IPA limit {limit:#x} "
            f"of a {ipa_bits}-bit realm"
        )


def _largest_level_fitting(base: int, top: int, ipa_bits: int) -> int:
    """The shallowest level whose entry is aligned at ``base`` and ends by ``top``."""
    for level in range(starting_level(ipa_bits), LAST_LEVEL + 1):
        size = entry_size(level)
        if base % size == 0 and base + size <= top:
            return level
    raise MeasurementError(f"no RTT entry fits at {base:#x} below {top:#x}")  # pragma: no cover


def _check_ipa_bits(ipa_bits: int) -> None:
    """Refuse an IPA width a 4 KiB-granule stage 2 cannot have."""
    if not MIN_IPA_BITS <= ipa_bits <= MAX_IPA_BITS:
        raise MeasurementError(
            f"s2sz {ipa_bits} is outside the {MIN_IPA_BITS}..{MAX_IPA_BITS} IPA bits an RTT can map"
        )
