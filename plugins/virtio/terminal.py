"""The terminal as the virtio console's input: character at a time, no echo."""

from __future__ import annotations

import os
import stat
import termios

# Index of the local modes and of the control characters in termios attributes.
LFLAG = 3
CC = 6


def console_input_fd() -> int | None:
    """Standard input when it is a terminal or a pipe (else the console has no input)."""
    try:
        mode = os.fstat(0).st_mode
    except OSError:
        return None
    if os.isatty(0) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        return 0
    return None


class RawTerminal:
    """Puts a terminal in non-canonical, no-echo mode; signals (Ctrl-C) still work."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._saved: list | None = None

    def enter(self) -> None:
        if not os.isatty(self.fd):
            return
        self._saved = termios.tcgetattr(self.fd)
        attributes = termios.tcgetattr(self.fd)
        attributes[LFLAG] &= ~(termios.ICANON | termios.ECHO)
        attributes[CC][termios.VMIN] = 1
        attributes[CC][termios.VTIME] = 0
        termios.tcsetattr(self.fd, termios.TCSANOW, attributes)

    def restore(self) -> None:
        if self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSANOW, self._saved)
            self._saved = None
