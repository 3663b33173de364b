"""A guest-side virtio driver for tests, speaking to the transports over the buses.

Register offsets are restated from the specification (virtio 1.2, 4.1.4 and 4.2.2)
rather than taken from the plugin, so the test checks the layout too.
"""

from __future__ import annotations

import time

from .driver import Allocator, RingDriver

ACKNOWLEDGE, DRIVER, DRIVER_OK, FEATURES_OK, NEEDS_RESET = 1, 2, 4, 8, 64
F_VERSION_1 = 1 << 32
F_INDIRECT = 1 << 28
F_EVENT_IDX = 1 << 29

# virtio-mmio registers.
MMIO = dict(magic=0x000, version=0x004, device_id=0x008, vendor=0x00C, dev_features=0x010,
            dev_features_sel=0x014, drv_features=0x020, drv_features_sel=0x024,
            queue_sel=0x030, queue_num_max=0x034, queue_num=0x038, queue_ready=0x044,
            queue_notify=0x050, int_status=0x060, int_ack=0x064, status=0x070,
            desc_lo=0x080, desc_hi=0x084, driver_lo=0x090, driver_hi=0x094,
            device_lo=0x0A0, device_hi=0x0A4, generation=0x0FC, config=0x100)

# virtio-pci common configuration.
COMMON = dict(dfselect=(0, 4), df=(4, 4), gfselect=(8, 4), gf=(12, 4), msix=(16, 2),
              num_queues=(18, 2), status=(20, 1), generation=(21, 1), q_select=(22, 2),
              q_size=(24, 2), q_msix=(26, 2), q_enable=(28, 2), q_notify_off=(30, 2),
              q_desc=(32, 8), q_driver=(40, 8), q_device=(48, 8))


def wait_for(predicate, timeout: float = 5.0):
    """Poll ``predicate`` until it returns something true (the device works on a thread)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.002)
    raise AssertionError("timed out waiting for the device")


class MmioGuest:
    """Drives one virtio-mmio device at ``base`` through ``vm.mmio``."""

    def __init__(self, vm, base: int, alloc: Allocator) -> None:
        self.vm = vm
        self.base = base
        self.alloc = alloc

    def read(self, name: str) -> int:
        return self.vm.mmio.read(self.base + MMIO[name], 4)

    def write(self, name: str, value: int) -> None:
        assert self.vm.mmio.write(self.base + MMIO[name], 4, value)

    def features(self) -> int:
        bits = 0
        for select in (0, 1):
            self.write("dev_features_sel", select)
            bits |= self.read("dev_features") << (32 * select)
        return bits

    def negotiate(self, accept: int) -> int:
        self.write("status", 0)
        self.write("status", ACKNOWLEDGE | DRIVER)
        for select in (0, 1):
            self.write("drv_features_sel", select)
            self.write("drv_features", (accept >> (32 * select)) & 0xFFFFFFFF)
        self.write("status", ACKNOWLEDGE | DRIVER | FEATURES_OK)
        return self.read("status")

    def setup_queue(self, index: int, size: int = 16) -> RingDriver:
        self.write("queue_sel", index)
        assert self.read("queue_num_max") >= size
        ring = RingDriver(self.vm.memory, self.alloc, size)
        self.write("queue_num", size)
        for name, address in (("desc", ring.layout.desc), ("driver", ring.layout.avail),
                              ("device", ring.layout.used)):
            self.write(f"{name}_lo", address & 0xFFFFFFFF)
            self.write(f"{name}_hi", address >> 32)
        self.write("queue_ready", 1)
        return ring

    def start(self, accept: int, queues: int) -> list[RingDriver]:
        assert self.negotiate(accept) & FEATURES_OK
        rings = [self.setup_queue(index) for index in range(queues)]
        self.write("status", ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK)
        return rings

    def notify(self, index: int) -> None:
        self.write("queue_notify", index)

    def config(self, offset: int, size: int) -> int:
        return self.vm.mmio.read(self.base + MMIO["config"] + offset, size)


class PciGuest:
    """Drives one virtio-pci function through a config accessor and its BAR 0."""

    def __init__(self, vm, config_read, config_write, alloc: Allocator) -> None:
        self.vm = vm
        self.cfg_read = config_read
        self.cfg_write = config_write
        self.alloc = alloc
        self.caps = self._capabilities()

    def _capabilities(self) -> dict[int, tuple[int, int]]:
        """virtio cfg_type -> (offset in BAR 0, config offset of the capability)."""
        caps: dict[int, tuple[int, int]] = {}
        pointer = self.cfg_read(0x34, 1)
        while pointer:
            if self.cfg_read(pointer, 1) == 0x09:
                caps[self.cfg_read(pointer + 3, 1)] = (self.cfg_read(pointer + 8, 4), pointer)
            elif self.cfg_read(pointer, 1) == 0x11:
                caps[0x11] = (self.cfg_read(pointer + 4, 4) & ~7, pointer)
            pointer = self.cfg_read(pointer + 1, 1)
        return caps

    @property
    def bar(self) -> int:
        return self.cfg_read(0x10, 4) & ~0xF

    def common_read(self, name: str) -> int:
        offset, size = COMMON[name]
        base = self.bar + self.caps[1][0]
        if size == 8:
            low = self.vm.mmio.read(base + offset, 4)
            return low | self.vm.mmio.read(base + offset + 4, 4) << 32
        return self.vm.mmio.read(base + offset, size)

    def common_write(self, name: str, value: int) -> None:
        offset, size = COMMON[name]
        base = self.bar + self.caps[1][0]
        if size == 8:  # as Linux does: two 32-bit halves
            assert self.vm.mmio.write(base + offset, 4, value & 0xFFFFFFFF)
            assert self.vm.mmio.write(base + offset + 4, 4, value >> 32)
        else:
            assert self.vm.mmio.write(base + offset, size, value)

    def start(self, accept: int, queues: int, msix_vector: int | None = None) -> list[RingDriver]:
        self.common_write("status", 0)
        self.common_write("status", ACKNOWLEDGE | DRIVER)
        for select in (0, 1):
            self.common_write("gfselect", select)
            self.common_write("gf", (accept >> (32 * select)) & 0xFFFFFFFF)
        self.common_write("status", ACKNOWLEDGE | DRIVER | FEATURES_OK)
        assert self.common_read("status") & FEATURES_OK
        rings = []
        for index in range(queues):
            self.common_write("q_select", index)
            size = min(self.common_read("q_size"), 16)
            ring = RingDriver(self.vm.memory, self.alloc, size)
            self.common_write("q_size", size)
            self.common_write("q_desc", ring.layout.desc)
            self.common_write("q_driver", ring.layout.avail)
            self.common_write("q_device", ring.layout.used)
            if msix_vector is not None:
                self.common_write("q_msix", msix_vector)
                assert self.common_read("q_msix") == msix_vector
            self.common_write("q_enable", 1)
            rings.append(ring)
        self.common_write("status", ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK)
        return rings

    def notify(self, index: int) -> None:
        self.common_write("q_select", index)
        offset = self.common_read("q_notify_off")
        notify_base, cap = self.caps[2]
        multiplier = self.cfg_read(cap + 16, 4)
        assert self.vm.mmio.write(self.bar + notify_base + offset * multiplier, 2, index)

    def isr(self) -> int:
        return self.vm.mmio.read(self.bar + self.caps[3][0], 1)
