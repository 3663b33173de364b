"""One I/O thread per device: waits on eventfds (and backend fds) with epoll.

Queue notifications reach a device as eventfd wake-ups (KVM_IOEVENTFD writes them
in the kernel, so a vCPU thread never handles a notification); a TAP device or the
terminal add their own fds. The thread runs each ready fd's callback; a callback that
raises is reported through ``on_error`` and the thread goes on, so a misbehaving
guest can't take the VMM down.
"""

from __future__ import annotations

import logging
import os
import select
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

EVENTFD_FLAGS = os.EFD_NONBLOCK | os.EFD_CLOEXEC


def new_eventfd() -> int:
    """A non-blocking, close-on-exec eventfd."""
    return os.eventfd(0, EVENTFD_FLAGS)


def drain_eventfd(fd: int) -> None:
    """Reset an eventfd's counter (ignoring a race with another reader)."""
    try:
        os.eventfd_read(fd)
    except BlockingIOError:
        pass


class IoThread:
    """An epoll loop on a thread of its own, stopped through an eventfd."""

    def __init__(self, name: str, on_error: Callable[[BaseException], None]) -> None:
        self.name = name
        self._on_error = on_error
        self._epoll = select.epoll()
        self._stop_fd = new_eventfd()
        self._epoll.register(self._stop_fd, select.EPOLLIN)
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._thread: threading.Thread | None = None

    def watch(self, fd: int, callback: Callable[[], None]) -> None:
        """Run ``callback`` on this thread whenever ``fd`` is readable."""
        self._callbacks[fd] = callback
        self._epoll.register(fd, select.EPOLLIN)

    def unwatch(self, fd: int) -> None:
        """Stop watching ``fd`` (it may be watched again later)."""
        if self._callbacks.pop(fd, None) is not None:
            self._epoll.unregister(fd)

    def watching(self, fd: int) -> bool:
        return fd in self._callbacks

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (after the callback in progress) and release the epoll."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            os.eventfd_write(self._stop_fd, 1)
            if thread is not threading.current_thread():
                thread.join()
        self._thread = None
        self._epoll.close()
        os.close(self._stop_fd)
        self._callbacks.clear()

    def _run(self) -> None:
        stop_fd = self._stop_fd
        callbacks = self._callbacks
        while True:
            try:
                events = self._epoll.poll()
            except InterruptedError:
                continue
            for fd, _ in events:
                if fd == stop_fd:
                    return
                callback = callbacks.get(fd)
                if callback is None:
                    continue
                try:
                    callback()
                except Exception as error:  # noqa: BLE001 - a guest must not kill vmm
                    log.debug("%s: callback failed", self.name, exc_info=True)
                    self._on_error(error)
