"""A PLIC (RISC-V Platform-Level Interrupt Controller) emulated in the VMM.

Used when KVM has no in-kernel AIA. Register map (the SiFive PLIC that Linux's
``riscv,plic0`` driver programs)::

    0x000000 + 4*s        priority of source s (0 = never interrupts)
    0x001000 + 4*w        pending bits, read-only
    0x002000 + 0x80*c     enable bits of context c
    0x200000 + 0x1000*c   threshold of context c; +4: claim (read) / complete (write)

One context per hart (its S-mode external interrupt). A context's output is raised
while some pending, enabled, unclaimed source has a priority above its threshold;
``deliver(context, level)`` is called only when that output changes. Sources are
level-triggered through :meth:`Plic.set_level` (pending follows the line until
claimed) or edge-triggered through :meth:`Plic.pulse` (an irqfd: pending latches
until claimed). A source whose line is still high, or that was pulsed while claimed,
is pending again after its completion.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

PRIORITY_BASE = 0x0
PENDING_BASE = 0x1000
ENABLE_BASE = 0x2000
ENABLE_STRIDE = 0x80
CONTEXT_BASE = 0x20_0000
CONTEXT_STRIDE = 0x1000
CONTEXT_THRESHOLD = 0x0
CONTEXT_CLAIM = 0x4
#: Priorities and thresholds are 3 bits wide (0..7), as on SiFive parts.
PRIORITY_MASK = 0x7
WORD = 4


class Plic:
    """The PLIC's state and register interface (a device on ``vm.mmio``).

    :param nr_sources: number of source ids including the reserved id 0.
    :param nr_contexts: number of contexts (one per hart).
    :param deliver: called with ``(context, level)`` when a context's output changes.
    """

    def __init__(self, nr_sources: int, nr_contexts: int,
                 deliver: Callable[[int, bool], None]) -> None:
        self.nr_sources = nr_sources
        self.nr_contexts = nr_contexts
        self._deliver = deliver
        self._lock = threading.Lock()
        self._words = (nr_sources + 31) // 32
        self._valid = ((1 << nr_sources) - 1) & ~1  # source 0 does not exist
        self.priority = [0] * nr_sources
        self._level = 0  # bitmask of lines held high
        self._latched = 0  # pulses received while the source was claimed
        self.pending = 0
        self.claimed = 0
        self.enable = [0] * nr_contexts
        self.threshold = [0] * nr_contexts
        self._output = [False] * nr_contexts

    # ------------------------------------------------------------ interrupt lines

    def set_level(self, source: int, level: int) -> None:
        """Drive a level-triggered line (any thread)."""
        bit = self._bit(source)
        with self._lock:
            if level:
                self._level |= bit
                if not self.claimed & bit:
                    self.pending |= bit
            else:
                self._level &= ~bit
                self.pending &= ~bit
            self._update()

    def pulse(self, source: int) -> None:
        """Signal an edge on a line (an irqfd): pending until claimed."""
        bit = self._bit(source)
        with self._lock:
            if self.claimed & bit:
                self._latched |= bit
            else:
                self.pending |= bit
            self._update()

    def _bit(self, source: int) -> int:
        if not 0 < source < self.nr_sources:
            raise ValueError(f"PLIC source {source} out of range 1..{self.nr_sources - 1}")
        return 1 << source

    # ------------------------------------------------------------ claim / complete

    def claim(self, context: int) -> int:
        """Take the best interrupt for ``context``: highest priority, then lowest id."""
        with self._lock:
            source = self._best(context)
            if source:
                bit = 1 << source
                self.pending &= ~bit
                self.claimed |= bit
            self._update()
            return source

    def complete(self, context: int, source: int) -> None:
        """End the handling of ``source``; ignored unless it is claimed and enabled."""
        with self._lock:
            if not 0 < source < self.nr_sources:
                return
            bit = 1 << source
            if not self.claimed & bit or not self.enable[context] & bit:
                return
            self.claimed &= ~bit
            if (self._level | self._latched) & bit:
                self.pending |= bit
                self._latched &= ~bit
            self._update()

    def _best(self, context: int) -> int:
        candidates = self.pending & self.enable[context] & ~self.claimed
        best, best_priority = 0, self.threshold[context]
        while candidates:
            low = candidates & -candidates
            source = low.bit_length() - 1
            if self.priority[source] > best_priority:
                best, best_priority = source, self.priority[source]
            candidates ^= low
        return best

    def _update(self) -> None:
        """Recompute every context's output; deliver the ones that changed."""
        for context in range(self.nr_contexts):
            level = self._best(context) != 0
            if level != self._output[context]:
                self._output[context] = level
                self._deliver(context, level)

    def output(self, context: int) -> bool:
        """Whether ``context``'s external interrupt output is raised."""
        return self._output[context]

    # ------------------------------------------------------------ registers

    def io_read(self, offset: int, size: int) -> int:
        """A 32-bit register read; other sizes read as 0."""
        if size != WORD or offset % WORD:
            return 0
        if offset < PENDING_BASE:
            source = offset // WORD
            return self.priority[source] if source < self.nr_sources else 0
        if offset < ENABLE_BASE:
            return self._word(self.pending, (offset - PENDING_BASE) // WORD)
        if offset < CONTEXT_BASE:
            context, word = divmod(offset - ENABLE_BASE, ENABLE_STRIDE)
            if context < self.nr_contexts:
                return self._word(self.enable[context], word // WORD)
            return 0
        context, register = divmod(offset - CONTEXT_BASE, CONTEXT_STRIDE)
        if context >= self.nr_contexts:
            return 0
        if register == CONTEXT_THRESHOLD:
            return self.threshold[context]
        if register == CONTEXT_CLAIM:
            return self.claim(context)
        return 0

    def io_write(self, offset: int, size: int, value: int) -> None:
        """A 32-bit register write; other sizes and read-only registers are ignored."""
        if size != WORD or offset % WORD:
            return
        if offset < PENDING_BASE:
            source = offset // WORD
            if 0 < source < self.nr_sources:
                with self._lock:
                    self.priority[source] = value & PRIORITY_MASK
                    self._update()
            return
        if offset < ENABLE_BASE:
            return  # pending bits are read-only
        if offset < CONTEXT_BASE:
            context, word = divmod(offset - ENABLE_BASE, ENABLE_STRIDE)
            word //= WORD
            if context < self.nr_contexts and word < self._words:
                with self._lock:
                    mask = 0xFFFF_FFFF << (32 * word)
                    bits = (value << (32 * word)) & mask & self._valid
                    self.enable[context] = (self.enable[context] & ~mask) | bits
                    self._update()
            return
        context, register = divmod(offset - CONTEXT_BASE, CONTEXT_STRIDE)
        if context >= self.nr_contexts:
            return
        if register == CONTEXT_THRESHOLD:
            with self._lock:
                self.threshold[context] = value & PRIORITY_MASK
                self._update()
        elif register == CONTEXT_CLAIM:
            self.complete(context, value)

    @staticmethod
    def _word(bits: int, word: int) -> int:
        return (bits >> (32 * word)) & 0xFFFF_FFFF

    @staticmethod
    def register_space(nr_contexts: int) -> int:
        """Bytes of register space ``nr_contexts`` contexts need."""
        return CONTEXT_BASE + nr_contexts * CONTEXT_STRIDE
