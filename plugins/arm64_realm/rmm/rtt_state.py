"""A realm's RTT as the RMM holds it, and the RMI calls whose answer depends on it.

What an RTT_INIT_RIPAS call measures depends on the shape of the realm's stage-2
tables when it is made: the RMM walks as deep as tables exist, so a 2 MiB range
under a level-2 block is one entry, and the same range under a level-3 table is 512.
The host builds that shape itself (RMI_RTT_CREATE when a call answers
``RMI_ERROR_RTT``), so a model of the host must follow the RMM's answers call by call.
:class:`RttState` is the RMM side: which tables exist and which granules hold data,
and the answers of RTT_CREATE, DATA_CREATE and RTT_INIT_RIPAS in both forms:

- beta0 (TF-RMM v0.2.0, runtime/rmi/rtt.c ``smc_rtt_init_ripas(rd, ipa, level)``):
  the walk must reach ``level`` (else ``ERROR_RTT`` with the level it reached); the
  entry there must be an unassigned block or page (a table or data: ``ERROR_RTT``
  with ``level``); one entry per call.
- RMM 1.0 (TF-RMM v0.8.0, ``smc_rtt_init_ripas(rd, base, top)``): walk to the deepest
  table holding ``base``; ``base`` must start an entry there (else ``ERROR_RTT``);
  then every entry of that one table from ``base`` while it ends at or below
  ``top`` and is unassigned (a table or data entry stops the walk); ``out_top`` is
  where it stopped, ``ERROR_RTT`` if nothing was done.

Only the protected half of the IPA space has RIPAS (``addr_in_par``); the root
tables (the starting level, concatenated) always exist.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .rtt import LAST_LEVEL, RttEntry, entry_size, protected_limit, starting_level, table_span

GRANULE = entry_size(LAST_LEVEL)


class RmiStatus(enum.Enum):
    """The RMI return codes the host's RTT handling branches on."""

    SUCCESS = "RMI_SUCCESS"
    ERROR_INPUT = "RMI_ERROR_INPUT"
    ERROR_RTT = "RMI_ERROR_RTT"


@dataclass(frozen=True)
class RmiResult:
    """An RMI call's answer: the status, the RTT level of an ``ERROR_RTT`` (its index),
    and for RMM 1.0 INIT_RIPAS the entries measured and where the walk stopped."""

    status: RmiStatus
    level: int = 0
    out_top: int = 0
    entries: tuple[RttEntry, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status is RmiStatus.SUCCESS


def _error_rtt(level: int) -> RmiResult:
    return RmiResult(RmiStatus.ERROR_RTT, level)


_INPUT = RmiResult(RmiStatus.ERROR_INPUT)


class RttState:
    """The tables of one realm's RTT and the granules that hold data (assigned)."""

    def __init__(self, ipa_bits: int) -> None:
        self.ipa_bits = ipa_bits
        self.start_level = starting_level(ipa_bits)
        self.par_limit = protected_limit(ipa_bits)
        #: Non-root tables, as (level of their entries, base of the range they map).
        self._tables: set[tuple[int, int]] = set()
        self._assigned: set[int] = set()

    # ------------------------------------------------------------ shape

    def has_table(self, ipa: int, level: int) -> bool:
        """Whether a table of level-``level`` entries maps ``ipa``."""
        if level == self.start_level:
            return True
        return (level, ipa - ipa % table_span(level)) in self._tables

    def walk(self, ipa: int, level: int = LAST_LEVEL) -> int:
        """The deepest level, at most ``level``, whose table mapping ``ipa`` exists."""
        reached = self.start_level
        while reached < level and self.has_table(ipa, reached + 1):
            reached += 1
        return reached

    def is_assigned(self, ipa: int) -> bool:
        """Whether the granule at ``ipa`` holds data (DATA_CREATE succeeded there)."""
        return ipa in self._assigned

    def _in_par(self, ipa: int) -> bool:
        return 0 <= ipa < self.par_limit

    # ------------------------------------------------------------ RMI calls

    def rtt_create(self, ipa: int, level: int) -> RmiResult:
        """RMI_RTT_CREATE of the level-``level`` table mapping ``ipa``."""
        if not self.start_level < level <= LAST_LEVEL or not self._in_par(ipa):
            return _INPUT
        reached = self.walk(ipa, level - 1)
        if reached != level - 1:
            return _error_rtt(reached)
        if self.has_table(ipa, level):
            return _error_rtt(level)
        self._tables.add((level, ipa - ipa % table_span(level)))
        return RmiResult(RmiStatus.SUCCESS)

    def data_create(self, ipa: int) -> RmiResult:
        """RMI_DATA_CREATE at ``ipa``: a level-3 entry that holds no data yet."""
        if ipa % GRANULE or not self._in_par(ipa):
            return _INPUT
        reached = self.walk(ipa)
        if reached != LAST_LEVEL:
            return _error_rtt(reached)
        if ipa in self._assigned:
            return _error_rtt(LAST_LEVEL)
        self._assigned.add(ipa)
        return RmiResult(RmiStatus.SUCCESS)

    def _entry_is_unassigned(self, base: int, level: int) -> bool:
        """An entry that is neither a table nor data (only level-3 entries hold data)."""
        if level < LAST_LEVEL:
            return not self.has_table(base, level + 1)
        return base not in self._assigned

    def init_ripas_block(self, ipa: int, level: int) -> RmiResult:
        """beta0 RMI_RTT_INIT_RIPAS(ipa, level): one entry, measured on success."""
        if not self.start_level <= level <= LAST_LEVEL or ipa % entry_size(level) \
                or not self._in_par(ipa):
            return _INPUT
        reached = self.walk(ipa, level)
        if reached != level:
            return _error_rtt(reached)
        if not self._entry_is_unassigned(ipa, level):
            return _error_rtt(level)
        return RmiResult(RmiStatus.SUCCESS, entries=(RttEntry(ipa, level),))

    def init_ripas_range(self, base: int, top: int) -> RmiResult:
        """RMM 1.0 RMI_RTT_INIT_RIPAS(base, top): the entries of one table, measured."""
        if top <= base or base % GRANULE or top % GRANULE or not self._in_par(base) \
                or not self._in_par(top - GRANULE):
            return _INPUT
        level = self.walk(base)
        size = entry_size(level)
        if base % size:
            return _error_rtt(level)
        table_end = base - base % table_span(level) + table_span(level)
        entries = []
        address = base
        while address < table_end and address + size <= top \
                and self._entry_is_unassigned(address, level):
            entries.append(RttEntry(address, level))
            address += size
        if not entries:
            return _error_rtt(level)
        return RmiResult(RmiStatus.SUCCESS, out_top=address, entries=tuple(entries))
