"""virtio-net (virtio 1.2, 5.1) on a TAP interface: one receive and one transmit queue.

Frames move between the TAP fd and guest memory with ``os.readv``/``os.writev`` on
views of guest RAM. TUN is set to the virtio 1.x header size, so the header the
driver writes goes to the kernel as it is, and the one TUN writes lands in the
receive buffer; the device then sets ``num_buffers`` to 1 (no mergeable buffers).
The TAP fd is watched only while the driver has receive buffers posted.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass

from vmm.core.errors import ConfigError

from . import buffers
from .cdefs import offsetof, sizeof
from .constants import DEVICE_ID_NET
from .device import VirtioDevice
from .iothread import IoThread
from .queue import Chain, Virtqueue

log = logging.getLogger(__name__)

QUEUE_SIZE = 256
RECEIVE_QUEUE = 0
TRANSMIT_QUEUE = 1
F_MAC = 5
F_STATUS = 16
LINK_UP = 1
HEADER_SIZE = sizeof("struct virtio_net_hdr_v1")
NUM_BUFFERS = offsetof("struct virtio_net_hdr_v1", "num_buffers")
ONE_BUFFER = (1).to_bytes(sizeof("struct virtio_net_hdr_v1") - NUM_BUFFERS, "little")
_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
LOCALLY_ADMINISTERED = 0x02
MULTICAST = 0x01


@dataclass(frozen=True)
class NetSpec:
    """One ``--network mode=tap,tapif=NAME[,guest_mac=MAC]``."""

    tapif: str
    mac: bytes


def random_mac() -> bytes:
    """A random locally administered unicast MAC address."""
    mac = bytearray(os.urandom(6))
    mac[0] = (mac[0] | LOCALLY_ADMINISTERED) & ~MULTICAST
    return bytes(mac)


def parse_network(text: str) -> NetSpec:
    """Parse kvmtool's ``mode=tap,tapif=NAME,guest_mac=MAC`` spelling."""
    values: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or key not in ("mode", "tapif", "guest_mac"):
            raise ConfigError(
                f"--network {text!r}: expected mode=tap,tapif=NAME[,guest_mac=MAC]"
            )
        if key in values:  # never silently keep one of two values
            raise ConfigError(f"--network {text!r}: {key}= is given twice")
        values[key] = value
    mode = values.get("mode", "tap")
    if mode != "tap":
        raise ConfigError(f"--network mode={mode}: only mode=tap is supported")
    mac_text = values.get("guest_mac")
    if mac_text is None:
        return NetSpec(values.get("tapif", ""), random_mac())
    if not _MAC.match(mac_text):
        raise ConfigError(
            f"--network guest_mac={mac_text!r}: expected six hex bytes like 02:00:00:00:00:01"
        )
    mac = bytes(int(part, 16) for part in mac_text.split(":"))
    if mac[0] & MULTICAST:
        raise ConfigError(f"--network guest_mac={mac_text}: a multicast address can't be a NIC's")
    return NetSpec(values.get("tapif", ""), mac)


class NetDevice(VirtioDevice):
    """A network card whose wire is a TAP fd (or any packet fd, for tests)."""

    device_id = DEVICE_ID_NET
    name = "net"
    queue_sizes = (QUEUE_SIZE, QUEUE_SIZE)
    config_type = "struct virtio_net_config"
    pci_class = (0x02, 0x00, 0x00)  # ethernet controller

    def __init__(self, tap_fd: int | None, mac: bytes, ifname: str = "") -> None:
        """:param tap_fd: the TAP interface's fd; None for a card with no wire (a
            dry run), whose frames are dropped."""
        super().__init__()
        self.tap_fd: int | None = tap_fd
        self.ifname = ifname
        self.config.mac = list(mac)
        self.config.status = LINK_UP

    @property
    def features(self) -> int:
        return (1 << F_MAC) | (1 << F_STATUS)

    def start(self, thread: IoThread) -> None:
        self._update_tap_watch()

    def process(self, queue: Virtqueue) -> None:
        if queue.index == TRANSMIT_QUEUE:
            self.serve(queue, self._transmit)
        else:
            self._update_tap_watch()

    def _transmit(self, queue: Virtqueue, chain: Chain) -> int:
        if self.tap_fd is None or not chain.readable:
            return 0
        try:
            os.writev(self.tap_fd, chain.readable)
        except BlockingIOError:
            log.debug("virtio-net: TAP queue full, frame dropped")
        except OSError as error:
            log.debug("virtio-net: frame dropped (%s)", error.strerror)
        return 0

    def _update_tap_watch(self) -> None:
        thread = self.io_thread
        fd = self.tap_fd
        if thread is None or fd is None:
            return
        queue = self.queues[RECEIVE_QUEUE]
        wanted = queue.has_available() or queue.enable_notifications()
        if wanted and not thread.watching(fd):
            thread.watch(fd, self._receive)
        elif not wanted and thread.watching(fd):
            thread.unwatch(fd)

    def _receive(self) -> None:
        """Frames are waiting: read each into the next receive chain."""
        queue = self.queues[RECEIVE_QUEUE]
        assert self.tap_fd is not None
        try:
            while True:
                chain = queue.pop()
                if chain is None:
                    break
                try:
                    size = os.readv(self.tap_fd, chain.writable)
                except BlockingIOError:
                    queue.unpop()
                    break
                if size >= HEADER_SIZE:
                    buffers.write_at(chain.writable, NUM_BUFFERS, ONE_BUFFER)
                queue.push(chain.head, size)
        finally:
            if queue.needs_interrupt() and self.transport is not None:
                self.transport.signal_used(queue)
            self._update_tap_watch()

    def close(self) -> None:
        """Stop the device and close the TAP fd."""
        super().close()
        fd, self.tap_fd = self.tap_fd, None
        if fd is not None:
            os.close(fd)
