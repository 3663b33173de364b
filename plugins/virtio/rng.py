"""virtio-rng (virtio 1.2, 5.4): the driver's writable buffers filled by getrandom()."""

from __future__ import annotations

import os

from .constants import DEVICE_ID_RNG
from .device import VirtioDevice
from .queue import Chain, Virtqueue

QUEUE_SIZE = 64
#: Most bytes handed out for one request (a driver asks for far less).
MAX_REQUEST = 64 * 1024


class RngDevice(VirtioDevice):
    """An entropy source: every request is filled from the host's getrandom(2)."""

    device_id = DEVICE_ID_RNG
    name = "rng"
    queue_sizes = (QUEUE_SIZE,)
    pci_class = (0x10, 0x80, 0x00)  # encryption controller, other

    def handle(self, queue: Virtqueue, chain: Chain) -> int:
        """Fill the chain's writable buffers (up to MAX_REQUEST bytes)."""
        written = 0
        for buffer in chain.writable:
            count = min(len(buffer), MAX_REQUEST - written)
            if count <= 0:
                break
            buffer[:count] = os.getrandom(count)
            written += count
        return written
