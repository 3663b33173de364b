"""virtio-console (virtio 1.2, 5.3): one port, the guest's hvc0 on the terminal.

Output (transmitq) goes to the VM's console stream; input (receiveq) comes from a
file descriptor, normally the terminal, watched by the device's I/O thread while the
driver has receive buffers posted. VIRTIO_CONSOLE_F_EMERG_WRITE lets an early guest
print through the configuration space.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from . import buffers
from .cdefs import offsetof
from .constants import DEVICE_ID_CONSOLE
from .device import VirtioDevice
from .iothread import IoThread
from .queue import Chain, Virtqueue

log = logging.getLogger(__name__)

QUEUE_SIZE = 64
RECEIVE_QUEUE = 0
TRANSMIT_QUEUE = 1
F_EMERG_WRITE = 2
EMERG_WR = offsetof("struct virtio_console_config", "emerg_wr")
READ_CHUNK = 4096


class ConsoleDevice(VirtioDevice):
    """A single-port console: ``output`` gets the guest's bytes, ``input_fd`` feeds it."""

    device_id = DEVICE_ID_CONSOLE
    name = "console"
    queue_sizes = (QUEUE_SIZE, QUEUE_SIZE)
    config_type = "struct virtio_console_config"
    pci_class = (0x07, 0x80, 0x00)  # communication controller, other

    def __init__(self, output: Callable[[bytes], None], input_fd: int | None = None) -> None:
        super().__init__()
        self.output = output
        self.input_fd = input_fd
        self.config.max_nr_ports = 1

    @property
    def features(self) -> int:
        return 1 << F_EMERG_WRITE

    def write_config(self, offset: int, size: int, value: int) -> None:
        """A write to ``emerg_wr`` prints one character."""
        if offset == EMERG_WR:
            self.output(bytes([value & 0xFF]))

    # ------------------------------------------------------------ queues

    def start(self, thread: IoThread) -> None:
        """Watch the input while the driver has posted receive buffers."""
        self._update_input_watch()

    def process(self, queue: Virtqueue) -> None:
        if queue.index == TRANSMIT_QUEUE:
            self.serve(queue, self._transmit)
        else:
            self._update_input_watch()

    def _transmit(self, queue: Virtqueue, chain: Chain) -> int:
        data = b"".join(chain.readable)
        if data:
            self.output(data)
        return 0

    def _update_input_watch(self) -> None:
        thread = self.io_thread
        fd = self.input_fd
        if thread is None or fd is None:
            return
        queue = self.queues[RECEIVE_QUEUE]
        wanted = queue.has_available() or queue.enable_notifications()
        if wanted and not thread.watching(fd):
            thread.watch(fd, self._on_input)
        elif not wanted and thread.watching(fd):
            thread.unwatch(fd)

    def _on_input(self) -> None:
        """Terminal input is ready: move it into one receive buffer."""
        assert self.input_fd is not None
        queue = self.queues[RECEIVE_QUEUE]
        try:
            data = os.read(self.input_fd, READ_CHUNK)
        except BlockingIOError:
            return
        if not data:  # end of input: stop watching it
            thread = self.io_thread
            if thread is not None:
                thread.unwatch(self.input_fd)
            self.input_fd = None
            return
        self._deliver(queue, data)
        self._update_input_watch()

    def _deliver(self, queue: Virtqueue, data: bytes) -> None:
        """Copy ``data`` into the next receive buffers (bytes that don't fit are lost)."""
        while data:
            chain = queue.pop()
            if chain is None:
                log.debug("virtio-console: %d input bytes dropped, no buffer", len(data))
                break
            count = buffers.scatter(chain.writable, data)
            data = data[count:]
            queue.push(chain.head, count)
        if queue.needs_interrupt() and self.transport is not None:
            self.transport.signal_used(queue)
