"""Host input for the serial console: a reader thread on stdin.

Started only when stdin is a terminal or a pipe (not /dev/null or a file). A
terminal is switched to non-canonical, no-echo mode (signals still work, so Ctrl-C
stops vmm) and restored when the VM is torn down, however the run ends.
"""

from __future__ import annotations

import os
import select
import stat
import sys
import termios
import threading
from typing import Callable

POLL_SECONDS = 0.2
READ_SIZE = 4096


def stdin_is_interactive(fd: int) -> bool:
    """True when ``fd`` is a terminal or a pipe."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return os.isatty(fd) or stat.S_ISFIFO(mode)


class ConsoleInput:
    """Copies bytes from an input fd to ``feed`` on a daemon thread until stopped."""

    def __init__(self, feed: Callable[[bytes], None], fd: int | None = None) -> None:
        self._feed = feed
        self._fd = sys.stdin.fileno() if fd is None else fd
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._saved_termios: list | None = None

    def start(self) -> bool:
        """Start reading if the fd is interactive; return whether it started."""
        if not stdin_is_interactive(self._fd):
            return False
        if os.isatty(self._fd):
            self._saved_termios = termios.tcgetattr(self._fd)
            mode = termios.tcgetattr(self._fd)
            mode[3] &= ~(termios.ICANON | termios.ECHO)  # lflags; ISIG stays on
            mode[6][termios.VMIN] = 1
            mode[6][termios.VTIME] = 0
            termios.tcsetattr(self._fd, termios.TCSANOW, mode)
        self._thread = threading.Thread(target=self._loop, name="console-input", daemon=True)
        self._thread.start()
        return True

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._fd], [], [], POLL_SECONDS)
                if not ready:
                    continue
                data = os.read(self._fd, READ_SIZE)
            except (OSError, ValueError):
                return
            if not data:
                return  # end of input
            self._feed(data)

    def stop(self) -> None:
        """Stop the thread and give the terminal its settings back."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
            self._thread = None
        if self._saved_termios is not None:
            try:
                termios.tcsetattr(self._fd, termios.TCSANOW, self._saved_termios)
            except termios.error:
                pass
            self._saved_termios = None
