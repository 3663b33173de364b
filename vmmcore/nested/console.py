"""Relay the emulated host's console: hide L1's boot, show the inner vmm's output,
and pick out the exit-status marker."""

from __future__ import annotations

import codecs
import re
import time
from collections import deque
from collections.abc import Callable

from vmm.core.nested.initscript import EXIT_MARKER, START_MARKER

_EXIT_LINE = re.compile(re.escape(EXIT_MARKER) + r"(\d+)")


class ConsoleRelay:
    """Feed it QEMU's serial output; it writes what the user should see.

    Lines before the start marker (L1's boot) are only kept for error reports;
    output after it is written as it arrives, partial lines included; the exit
    marker line (and the blank line init prints before it) is swallowed.
    """

    def __init__(self, write: Callable[[str], None], tail_lines: int = 30) -> None:
        self.write = write
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.pending = ""
        self.started_at: float | None = None
        self.exit_status: int | None = None
        self.tail: deque[str] = deque(maxlen=tail_lines)
        self._mid_line = False
        self._blank_held = False

    @property
    def relaying(self) -> bool:
        """Whether the inner vmm is running (its output is shown)."""
        return self.started_at is not None and self.exit_status is None

    def feed(self, data: bytes) -> None:
        """Take some console bytes."""
        text = self.decoder.decode(data).replace("\r", "")
        self.pending += text
        while "\n" in self.pending:
            line, self.pending = self.pending.split("\n", 1)
            self._complete(line)
        if self.relaying and self.pending and (
            self._mid_line or not EXIT_MARKER.startswith(self.pending[: len(EXIT_MARKER)])
        ):
            self._emit(self.pending)
            self._add_to_tail(self.pending)
            self._mid_line = True
            self.pending = ""

    def finish(self) -> None:
        """Flush a last partial line when the console closes."""
        if self.pending and self.relaying:
            self._emit(self.pending)
        elif self.pending and self.started_at is None:
            self.tail.append(self.pending)
        self.pending = ""

    def _add_to_tail(self, text: str) -> None:
        """Keep shown text for error reports: a line that came in pieces is one line."""
        if self._mid_line and self.tail:
            self.tail[-1] += text
        else:
            self.tail.append(text)

    def _emit(self, text: str) -> None:
        if self._blank_held:
            self.write("\n")
            self._blank_held = False
        self.write(text)

    def _complete(self, line: str) -> None:
        if self.exit_status is not None:
            return
        if self.started_at is None:
            self.tail.append(line)
            if line.strip() == START_MARKER:
                self.started_at = time.monotonic()
                self.tail.clear()
            return
        if self._mid_line:
            self.write(line + "\n")
            self._add_to_tail(line)
            self._mid_line = False
            return
        match = _EXIT_LINE.fullmatch(line.strip())
        if match:
            self.exit_status = int(match.group(1))
            return
        if line == "":
            if self._blank_held:
                self.write("\n")
            self._blank_held = True
            return
        self._emit(line + "\n")
        self.tail.append(line)
