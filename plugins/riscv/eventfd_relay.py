"""irqfd without an in-kernel irqchip: one thread turns eventfd writes into calls.

KVM's irqfd needs an in-kernel irqchip; with the PLIC emulated in the VMM, a device
that raises its interrupt by writing an eventfd is served by this relay instead: a
single thread polls every registered eventfd (and a wake-up pipe for new ones and
for stopping), reads the counter and calls the line's callback.
"""

from __future__ import annotations

import logging
import os
import select
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

_COUNTER_SIZE = 8  # an eventfd is read as one 64-bit counter


class EventfdRelay:
    """Calls ``callback`` each time its eventfd is written, on one daemon thread."""

    def __init__(self, name: str = "irqfd-relay") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._wake_read, self._wake_write = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._thread: threading.Thread | None = None
        self._stopping = False

    def add(self, eventfd: int, callback: Callable[[], None]) -> None:
        """Watch ``eventfd``; start the thread on the first one."""
        with self._lock:
            if self._stopping:
                raise RuntimeError("the eventfd relay is stopped")
            self._callbacks[eventfd] = callback
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name,
                                                daemon=True)
                self._thread.start()
        self._wake()

    def _wake(self) -> None:
        try:
            os.write(self._wake_write, b"\0")
        except BlockingIOError:
            pass  # a wake-up is already pending

    def _loop(self) -> None:
        poller = select.poll()
        poller.register(self._wake_read, select.POLLIN)
        watched: set[int] = set()
        while True:
            with self._lock:
                if self._stopping:
                    return
                callbacks = dict(self._callbacks)
            for fd in callbacks.keys() - watched:
                poller.register(fd, select.POLLIN)
                watched.add(fd)
            for fd, events in poller.poll():
                if fd == self._wake_read:
                    self._drain_wake()
                    continue
                if events & (select.POLLERR | select.POLLNVAL | select.POLLHUP):
                    self._forget(poller, watched, fd)  # closed by its device
                    continue
                try:
                    os.read(fd, _COUNTER_SIZE)
                except BlockingIOError:
                    continue
                except OSError as error:
                    log.debug("eventfd %d: %s", fd, error)
                    self._forget(poller, watched, fd)
                    continue
                callbacks[fd]()

    def _forget(self, poller: select.poll, watched: set[int], fd: int) -> None:
        poller.unregister(fd)
        watched.discard(fd)
        with self._lock:
            self._callbacks.pop(fd, None)

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_read, 64):
                pass
        except BlockingIOError:
            pass

    def stop(self) -> None:
        """Stop the thread and close the wake-up pipe (the eventfds are the devices')."""
        with self._lock:
            self._stopping = True
            thread = self._thread
        self._wake()
        if thread is not None:
            thread.join(timeout=5)
        os.close(self._wake_read)
        os.close(self._wake_write)
