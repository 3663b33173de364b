"""Host input for a guest console: the terminal (or a pipe) as the guest's keyboard.

Shared by every serial console (8250 on x86, arm64, riscv) and the virtio console.
Input is read only when stdin is a terminal, a pipe or a socket (not /dev/null or a
file). A terminal is switched to non-canonical, no-echo mode (signals still work, so
Ctrl-C stops vmm) and restored when the VM is torn down, however the run ends.
"""

from __future__ import annotations

import os
import select
import stat
import termios
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..stash import StashKey

if TYPE_CHECKING:
    from ..vm import Vm

POLL_SECONDS = 0.2
READ_SIZE = 4096
STDIN = 0

# Index of the local modes and of the control characters in termios attributes.
_LFLAG = 3
_CC = 6


def console_input_fd(fd: int = STDIN) -> int | None:
    """``fd`` when it is a terminal, a pipe or a socket, else None (no input)."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return None
    if os.isatty(fd) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        return fd
    return None


class RawTerminal:
    """Puts a terminal in non-canonical, no-echo mode; signals (Ctrl-C) still work."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._saved: list[Any] | None = None  # termios.tcgetattr's list

    def enter(self) -> None:
        if not os.isatty(self.fd):
            return
        self._saved = termios.tcgetattr(self.fd)
        attributes = termios.tcgetattr(self.fd)
        attributes[_LFLAG] &= ~(termios.ICANON | termios.ECHO)  # ISIG stays on
        attributes[_CC][termios.VMIN] = 1
        attributes[_CC][termios.VTIME] = 0
        termios.tcsetattr(self.fd, termios.TCSANOW, attributes)

    def restore(self) -> None:
        if self._saved is not None:
            try:
                termios.tcsetattr(self.fd, termios.TCSANOW, self._saved)
            except termios.error:
                pass
            self._saved = None


class ConsoleInput:
    """Copies bytes from an input fd to ``feed`` on a daemon thread until stopped."""

    def __init__(self, feed: Callable[[bytes], None], fd: int = STDIN) -> None:
        self._feed = feed
        self._fd = fd
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._terminal = RawTerminal(fd)

    def start(self) -> bool:
        """Start reading if the fd is interactive; return whether it started."""
        if console_input_fd(self._fd) is None:
            return False
        self._terminal.enter()
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
        self._terminal.restore()


_INPUT = StashKey[ConsoleInput]()


def start_serial_input(vm: Vm, feed: Callable[[bytes], None]) -> None:
    """Feed the terminal to a serial console when it is the VM's console.

    Nothing happens with ``--console virtio`` (the virtio console reads the terminal)
    or ``--dry-run``. Undo with :func:`stop_serial_input` in the matching exit stage.
    """
    if vm.config.console != "serial" or vm.config.dry_run:
        return
    reader = ConsoleInput(feed)
    if reader.start():
        vm.stash[_INPUT] = reader


def stop_serial_input(vm: Vm) -> None:
    """Stop the reader :func:`start_serial_input` started, if any."""
    reader = vm.stash.get(_INPUT)
    if reader is not None:
        del vm.stash[_INPUT]
        reader.stop()
