"""Devices driven directly on a GuestMemory, without a transport or a VM."""

from __future__ import annotations

from vmm.core.memory import GuestMemory
from vmm.plugins.virtio.device import VirtioDevice

from .driver import Allocator, RingDriver

RAM_START = 0x100000
RAM_SIZE = 4 << 20


class RecordingTransport:
    """Stands in for a transport: records what the device asked of it."""

    def __init__(self) -> None:
        self.used: list[int] = []
        self.config_changes = 0
        self.reset_reasons: list[str] = []

    def signal_used(self, queue) -> None:
        self.used.append(queue.index)

    def signal_config(self) -> None:
        self.config_changes += 1

    def needs_reset(self, reason: str) -> None:
        self.reset_reasons.append(reason)


class Bench:
    """A device with its queues mapped in a buffer of guest memory."""

    def __init__(self, device: VirtioDevice, features: int = 0) -> None:
        self.memory = GuestMemory()
        self.memory.add(RAM_START, RAM_SIZE)
        self.alloc = Allocator(RAM_START, RAM_START + RAM_SIZE)
        self.device = device
        self.transport = RecordingTransport()
        device.transport = self.transport
        device.driver_features = features
        self.rings: list[RingDriver] = []
        for queue in device.queues:
            ring = RingDriver(self.memory, self.alloc, 16)
            queue.size = 16
            queue.desc_addr, queue.avail_addr, queue.used_addr = (
                ring.layout.desc, ring.layout.avail, ring.layout.used)
            queue.ready = True
            queue.activate(self.memory, event_idx=False, indirect=True)
            self.rings.append(ring)

    def run(self, queue: int = 0) -> list[tuple[int, int]]:
        """Let the device serve ``queue`` now; return the used elements."""
        self.device.process(self.device.queues[queue])
        return self.rings[queue].used()

    def close(self) -> None:
        self.device.close()
        self.memory.close()
