"""virtio-net (virtio 1.2, 5.1): one receive and one transmit queue on a wire.

The wire (:mod:`.netwire`) is a TAP interface (``mode=tap``) or a stream of frames
to passt, a user-mode network stack (``mode=user``, :mod:`.passt`). On a TAP,
frames move between the fd and guest memory with ``os.readv``/``os.writev`` on views
of guest RAM: TUN is set to the virtio 1.x header size, so the header the driver
writes goes to the kernel as it is, and the one TUN writes lands in the receive
buffer; the device then sets ``num_buffers`` to 1 (no mergeable buffers). The wire
is watched only while the driver has receive buffers posted.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vmm.core.errors import ConfigError

from . import buffers
from .constants import DEVICE_ID_NET
from .device import VirtioDevice
from .iothread import IoThread
from .netwire import HEADER_SIZE, NUM_BUFFERS, PacketWire, WireClosed
from .queue import Chain, Virtqueue

if TYPE_CHECKING:
    from .netwire import StreamWire

    Wire = PacketWire | StreamWire

log = logging.getLogger(__name__)

QUEUE_SIZE = 256
RECEIVE_QUEUE = 0
TRANSMIT_QUEUE = 1
F_MAC = 5
F_STATUS = 16
LINK_UP = 1
ONE_BUFFER = (1).to_bytes(HEADER_SIZE - NUM_BUFFERS, "little")
_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
LOCALLY_ADMINISTERED = 0x02
MULTICAST = 0x01


#: The ``--network`` keys of each mode (kvmtool's names).
MODE_KEYS = {
    "tap": ("mode", "tapif", "guest_mac"),
    "user": ("mode", "guest_mac", "guest_ip", "host_ip"),
}
SPELLING = "mode=tap,tapif=NAME[,guest_mac=MAC] or mode=user[,guest_ip=IP,host_ip=IP,guest_mac=MAC]"


@dataclass(frozen=True)
class NetSpec:
    """One ``--network``: a TAP interface (``mode=tap``) or user-mode networking
    through passt (``mode=user``: ``guest_ip`` and ``host_ip``, the gateway that
    reaches the host's loopback, default to passt's choice)."""

    tapif: str
    mac: bytes
    mode: str = "tap"
    guest_ip: str = ""
    host_ip: str = ""


def random_mac() -> bytes:
    """A random locally administered unicast MAC address."""
    mac = bytearray(os.urandom(6))
    mac[0] = (mac[0] | LOCALLY_ADMINISTERED) & ~MULTICAST
    return bytes(mac)


def parse_network(text: str) -> NetSpec:
    """Parse kvmtool's ``mode=tap,tapif=NAME,guest_mac=MAC`` / ``mode=user`` spellings."""
    values: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or key not in MODE_KEYS["tap"] + MODE_KEYS["user"]:
            raise ConfigError(f"--network {text!r}: expected {SPELLING}")
        if key in values:  # never silently keep one of two values
            raise ConfigError(f"--network {text!r}: {key}= is given twice")
        values[key] = value
    mode = values.get("mode", "tap")
    if mode not in MODE_KEYS:
        raise ConfigError(f"--network mode={mode}: choose mode=tap or mode=user")
    for key in values:
        if key not in MODE_KEYS[mode]:
            raise ConfigError(f"--network {text!r}: {key}= does not apply to mode={mode}")
    addresses = {key: _ipv4(key, values[key]) for key in ("guest_ip", "host_ip") if key in values}
    return NetSpec(values.get("tapif", ""), _mac(values.get("guest_mac")), mode, **addresses)


def _ipv4(key: str, text: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise ConfigError(f"--network {key}={text!r}: expected an IPv4 address like "
                          "10.0.2.15") from None


def _mac(text: str | None) -> bytes:
    if text is None:
        return random_mac()
    if not _MAC.match(text):
        raise ConfigError(
            f"--network guest_mac={text!r}: expected six hex bytes like 02:00:00:00:00:01"
        )
    mac = bytes(int(part, 16) for part in text.split(":"))
    if mac[0] & MULTICAST:
        raise ConfigError(f"--network guest_mac={text}: a multicast address can't be a NIC's")
    return mac


class NetDevice(VirtioDevice):
    """A network card whose wire is a TAP fd, a frame stream (user-mode networking)
    or any packet fd (tests)."""

    device_id = DEVICE_ID_NET
    name = "net"
    queue_sizes = (QUEUE_SIZE, QUEUE_SIZE)
    config_type = "struct virtio_net_config"
    pci_class = (0x02, 0x00, 0x00)  # ethernet controller

    def __init__(self, wire: Wire | int | None, mac: bytes, ifname: str = "") -> None:
        """:param wire: the backend (a bare fd is a TAP's); None for a card with no
            wire (a dry run), whose frames are dropped."""
        super().__init__()
        self.wire: Wire | None = PacketWire(wire) if isinstance(wire, int) else wire
        self.ifname = ifname
        self.config.mac = list(mac)
        self.config.status = LINK_UP

    @property
    def features(self) -> int:
        return (1 << F_MAC) | (1 << F_STATUS)

    def start(self, thread: IoThread) -> None:
        self._update_watch()

    def process(self, queue: Virtqueue) -> None:
        if queue.index == TRANSMIT_QUEUE:
            self.serve(queue, self._transmit)
        elif self.wire is not None and self.wire.pending:
            self._receive()  # frames already read wait for these buffers
        else:
            self._update_watch()

    def _transmit(self, queue: Virtqueue, chain: Chain) -> int:
        if self.wire is not None and chain.readable:
            self.wire.send(chain.readable)
        return 0

    def _update_watch(self) -> None:
        thread = self.io_thread
        wire = self.wire
        if thread is None or wire is None:
            return
        queue = self.queues[RECEIVE_QUEUE]
        wanted = not wire.closed and (
            queue.has_available() or queue.enable_notifications())
        if wanted and not thread.watching(wire.fd):
            thread.watch(wire.fd, self._receive)
        elif not wanted and thread.watching(wire.fd):
            thread.unwatch(wire.fd)

    def _receive(self) -> None:
        """Frames are waiting: read each into the next receive chain."""
        queue = self.queues[RECEIVE_QUEUE]
        wire = self.wire
        assert wire is not None
        try:
            while True:
                chain = queue.pop()
                if chain is None:
                    break
                size = wire.receive_into(chain.writable)
                if size is None:
                    queue.unpop()
                    break
                if size >= HEADER_SIZE:
                    buffers.write_at(chain.writable, NUM_BUFFERS, ONE_BUFFER)
                queue.push(chain.head, size)
        except WireClosed as error:
            log.warning("virtio-net: %s; the card is cut off", error)
        finally:
            if queue.needs_interrupt() and self.transport is not None:
                self.transport.signal_used(queue)
            self._update_watch()

    def close(self) -> None:
        """Stop the device and close its wire (ending a user-mode stack's process)."""
        super().close()
        wire, self.wire = self.wire, None
        if wire is not None:
            wire.close()
