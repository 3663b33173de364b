"""What every virtio device shares: queues, config space, its I/O thread, errors.

A device knows nothing of its transport's registers. A transport calls
:meth:`VirtioDevice.activate` when the driver sets DRIVER_OK (with the negotiated
features and one notification eventfd per queue), :meth:`reset` when the driver
writes status 0, and :meth:`close` at VM exit. The device calls back
``transport.signal_used(queue)`` and ``transport.needs_reset(reason)``.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any, Protocol

from vmm.core.memory import GuestMemory

from .cdefs import ffi
from .constants import F_EVENT_IDX, F_INDIRECT_DESC, TRANSPORT_FEATURES
from .iothread import IoThread, drain_eventfd
from .queue import ChainError, QueueSetupError, Virtqueue

if TYPE_CHECKING:
    from .queue import Chain

log = logging.getLogger(__name__)


class TransportLink(Protocol):
    """What a device may ask of its transport."""

    def signal_used(self, queue: Virtqueue) -> None:
        """Interrupt the driver: ``queue``'s used ring has new entries."""

    def signal_config(self) -> None:
        """Interrupt the driver: the configuration space (or status) changed."""

    def needs_reset(self, reason: str) -> None:
        """Set DEVICE_NEEDS_RESET: the device can't go on until the driver resets it."""


class VirtioDevice:
    """Base class of the devices: subclasses set the IDs, queues and behaviour."""

    #: Virtio device ID (5: 1 net, 2 block, 3 console, 4 entropy).
    device_id = 0
    #: Short name for threads and messages.
    name = "virtio"
    #: Maximum size of each queue, in queue order.
    queue_sizes: tuple[int, ...] = ()
    #: cffi type of the device configuration space, or None.
    config_type: str | None = None
    #: PCI class code (class, subclass, prog-if) shown by the virtio-pci transport.
    pci_class = (0xFF, 0x00, 0x00)

    def __init__(self) -> None:
        self.queues = [Virtqueue(index, size) for index, size in enumerate(self.queue_sizes)]
        self.transport: TransportLink | None = None
        self.driver_features = 0
        self._thread: IoThread | None = None
        self._config_buffer = bytearray(ffi.sizeof(self.config_type) if self.config_type else 0)
        self.config: Any = (
            ffi.from_buffer(f"{self.config_type} *", self._config_buffer)
            if self.config_type
            else None
        )

    # ------------------------------------------------------------ features and config

    @property
    def features(self) -> int:
        """Device-specific feature bits; the transport adds its own and the hook's."""
        return 0

    def offered_features(self) -> int:
        """Device-specific bits plus the transport features every device offers."""
        return self.features | TRANSPORT_FEATURES

    def negotiated(self, bit: int) -> bool:
        return bool(self.driver_features >> bit & 1)

    @property
    def config_size(self) -> int:
        return len(self._config_buffer)

    def read_config(self, offset: int, size: int) -> int:
        """A little-endian read of the configuration space (0 outside it)."""
        if offset < 0 or offset + size > len(self._config_buffer):
            return 0
        return int.from_bytes(self._config_buffer[offset : offset + size], "little")

    def write_config(self, offset: int, size: int, value: int) -> None:
        """A driver write to the configuration space: read-only unless overridden."""

    # ------------------------------------------------------------ life cycle

    def activate(self, memory: GuestMemory, driver_features: int, kick_fds: list[int]) -> None:
        """Start serving the driver: map the ready queues and start the I/O thread.

        Once between resets: the transport's status machine guarantees it, and a
        second call while live is ignored rather than starting another thread.
        """
        if self._thread is not None:
            log.warning("virtio-%s: already live; activation ignored", self.name)
            return
        self.driver_features = driver_features
        event_idx = self.negotiated(F_EVENT_IDX)
        indirect = self.negotiated(F_INDIRECT_DESC)
        try:
            for queue in self.queues:
                if queue.ready:
                    queue.activate(memory, event_idx=event_idx, indirect=indirect)
        except QueueSetupError as error:
            self._deactivate_queues()
            self._report(error)
            return
        thread = IoThread(f"virtio-{self.name}", self._report)
        for queue, fd in zip(self.queues, kick_fds, strict=True):
            if queue.active:
                thread.watch(fd, self._kick_handler(queue, fd))
        self._thread = thread
        self.start(thread)
        thread.start()
        for queue in self.queues:  # chains made available before DRIVER_OK
            if queue.active and queue.has_available():
                os.eventfd_write(kick_fds[queue.index], 1)

    def _kick_handler(self, queue: Virtqueue, fd: int):
        def on_kick() -> None:
            drain_eventfd(fd)
            self.process(queue)

        return on_kick

    def start(self, thread: IoThread) -> None:
        """Hook for subclasses: watch backend fds (a TAP, the terminal) on ``thread``."""

    def stop(self) -> None:
        """Hook for subclasses: the I/O thread has stopped."""

    def reset(self) -> None:
        """Stop the I/O thread and forget the queues (the driver reset the device)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.stop()
            self.stop()
        self._deactivate_queues()
        for queue in self.queues:
            queue.reset()
        self.driver_features = 0

    def _deactivate_queues(self) -> None:
        for queue in self.queues:
            queue.deactivate()

    def close(self) -> None:
        """Stop and release the backend (flush disks, close taps) at VM exit."""
        self.reset()

    @property
    def io_thread(self) -> IoThread | None:
        return self._thread

    # ------------------------------------------------------------ requests

    def process(self, queue: Virtqueue) -> None:
        """Serve ``queue`` on the I/O thread: the default handles each chain in turn."""
        self.serve(queue, self.handle)

    def handle(self, queue: Virtqueue, chain: Chain) -> int:
        """Handle one chain; return how many bytes were written into its buffers."""
        raise NotImplementedError

    def serve(self, queue: Virtqueue, handle) -> None:
        """Pop, handle and complete every available chain, then interrupt if wanted."""
        try:
            while True:
                chain = queue.pop()
                while chain is not None:
                    queue.push(chain.head, handle(queue, chain))
                    chain = queue.pop()
                if not queue.enable_notifications():
                    break
        except ChainError as error:
            self._report(error)
        finally:
            if queue.needs_interrupt() and self.transport is not None:
                self.transport.signal_used(queue)

    def _report(self, error: BaseException) -> None:
        """A guest error (bad chain, bad queue): the device needs a reset."""
        log.warning("virtio-%s: %s; the device needs a reset", self.name, error)
        if self.transport is not None:
            self.transport.needs_reset(str(error))
