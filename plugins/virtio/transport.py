"""The state machine every transport shares: features, status, queue selection.

virtio-mmio and virtio-pci differ only in where the registers are and how an
interrupt is sent; both keep a :class:`Transport` for the rest (3.1 device
initialisation). The features offered are the device's own, the transport features
(VIRTIO_F_VERSION_1 always) and whatever ``vmm_virtio_host_features`` returns from
every plugin, OR-ed (:func:`vmm.core.builder.virtio_host_features`), asked each
time the driver reads them.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING

from .constants import (
    F_VERSION_1,
    STATUS_DEVICE_NEEDS_RESET,
    STATUS_DRIVER_OK,
    STATUS_FEATURES_OK,
)
from .iothread import new_eventfd

if TYPE_CHECKING:
    from vmm.core.vm import Vm

    from .device import VirtioDevice
    from .queue import Virtqueue

log = logging.getLogger(__name__)

WORD_BITS = 32
WORD_MASK = (1 << WORD_BITS) - 1
#: Registers that select what other registers show (4.1.4.3, 4.2.2), by role.
SELECTORS = ("device_features_sel", "driver_features_sel", "queue_sel")


def host_features(vm: Vm, device: VirtioDevice) -> int:
    """The features offered for ``device``: its own, VERSION_1, and every plugin's."""
    from vmm.core.builder import virtio_host_features

    return device.offered_features() | virtio_host_features(vm, device) | (1 << F_VERSION_1)


class Transport:
    """Transport-independent device state; subclasses deliver the interrupts."""

    def __init__(self, vm: Vm, device: VirtioDevice) -> None:
        self.vm = vm
        self.device = device
        device.transport = self
        #: Guards the registers against concurrent vCPUs. Only vCPU threads take it:
        #: a reset joins the device's I/O thread while holding it.
        self.lock = threading.RLock()
        #: Guards what the I/O thread changes too: interrupt state, NEEDS_RESET.
        self.irq_lock = threading.Lock()
        self.kick_fds = [new_eventfd() for _ in device.queues]
        self.status = 0
        self.device_features_sel = 0
        self.driver_features_sel = 0
        self.driver_features = 0
        self.offered = 0
        self.queue_sel = 0
        self.config_generation = 0

    # ------------------------------------------------------------ features

    def read_device_features(self) -> int:
        """The 32 offered feature bits selected by ``device_features_sel``."""
        self.offered = host_features(self.vm, self.device)
        if self.device_features_sel >= 2:
            return 0
        return (self.offered >> (WORD_BITS * self.device_features_sel)) & WORD_MASK

    def read_driver_features(self) -> int:
        if self.driver_features_sel >= 2:
            return 0
        return (self.driver_features >> (WORD_BITS * self.driver_features_sel)) & WORD_MASK

    def write_driver_features(self, value: int) -> None:
        """Set the 32 accepted feature bits selected by ``driver_features_sel``."""
        if self.status & STATUS_FEATURES_OK or self.driver_features_sel >= 2:
            return  # features are frozen once accepted (3.1.1)
        shift = WORD_BITS * self.driver_features_sel
        self.driver_features = (self.driver_features & ~(WORD_MASK << shift)) | (
            (value & WORD_MASK) << shift
        )

    # ------------------------------------------------------------ status

    def write_status(self, value: int) -> None:
        """The driver writes the status byte: reset, accept features, or go live.

        The status follows virtio 1.2's state machine (2.1.1, 3.1.1): 0 resets the
        device; otherwise the driver may only add bits, so DRIVER_OK is set at most
        once between resets and the device is activated (its I/O thread started)
        at most once. A write that clears bits breaks the protocol: it is refused
        and the device asks for a reset (DEVICE_NEEDS_RESET). DEVICE_NEEDS_RESET
        itself is the device's to set.
        """
        with self.lock:
            if value == 0:
                self.reset()
                return
            value &= ~STATUS_DEVICE_NEEDS_RESET
            current = self.status & ~STATUS_DEVICE_NEEDS_RESET
            cleared = current & ~value
            if cleared:
                log.warning("virtio-%s: the driver cleared status bits %#x without a "
                            "reset; the device needs a reset", self.device.name, cleared)
                self.needs_reset("status bits cleared without a reset")
                return
            added = value & ~current
            if added & STATUS_FEATURES_OK and not self._features_acceptable():
                value &= ~STATUS_FEATURES_OK
            if added & STATUS_DRIVER_OK and not value & STATUS_FEATURES_OK:
                value &= ~STATUS_DRIVER_OK
            with self.irq_lock:
                self.status = value | (self.status & STATUS_DEVICE_NEEDS_RESET)
            if added & STATUS_DRIVER_OK and self.status & STATUS_DRIVER_OK:
                self.device.activate(self.vm.memory, self.driver_features, self.kick_fds)

    def _features_acceptable(self) -> bool:
        offered = self.offered or host_features(self.vm, self.device)
        if self.driver_features & ~offered:
            log.debug("virtio-%s: driver accepted features never offered", self.device.name)
            return False
        return bool(self.driver_features >> F_VERSION_1 & 1)

    def reset(self) -> None:
        """Device reset (status 0): stop the device, forget the negotiation."""
        with self.lock:
            self.device.reset()  # joins the I/O thread: irq_lock must be free
            with self.irq_lock:
                self.status = 0
                self.reset_interrupts()
            self.device_features_sel = 0
            self.driver_features_sel = 0
            self.driver_features = 0
            self.queue_sel = 0

    def reset_interrupts(self) -> None:
        """Subclasses clear their interrupt state on reset (``irq_lock`` is held)."""

    def needs_reset(self, reason: str) -> None:
        """Set DEVICE_NEEDS_RESET and tell the driver through a config interrupt."""
        with self.irq_lock:
            if self.status & STATUS_DEVICE_NEEDS_RESET:
                return
            self.status |= STATUS_DEVICE_NEEDS_RESET
        self.signal_config()

    # ------------------------------------------------------------ registers

    def read_common(self, role: str) -> int:
        """A register every transport has, by role: a selector (:data:`SELECTORS`),
        the selected 32 bits of ``device_features`` or ``driver_features``,
        ``status``, ``config_generation`` or the selected queue's ``queue_size``.

        Each transport maps its own register names to these roles (virtio-mmio's
        DeviceFeaturesSel is virtio-pci's device_feature_select).
        """
        if role == "device_features":
            return self.read_device_features()
        if role == "driver_features":
            return self.read_driver_features()
        if role == "queue_size":
            queue = self.selected_queue
            return queue.size if queue is not None else 0
        return int(getattr(self, role))

    def write_common(self, role: str, value: int) -> None:
        """A driver's write of a register every transport has (see :meth:`read_common`);
        writes of read-only ones (``device_features``, ``config_generation``) are ignored."""
        if role == "driver_features":
            self.write_driver_features(value)
        elif role == "status":
            self.write_status(value & 0xFF)
        elif role == "queue_size":
            queue = self.queue_configurable()
            if queue is not None:
                queue.size = value
        elif role in SELECTORS:
            setattr(self, role, value)

    # ------------------------------------------------------------ queues

    @property
    def selected_queue(self) -> Virtqueue | None:
        queues = self.device.queues
        return queues[self.queue_sel] if self.queue_sel < len(queues) else None

    def queue_configurable(self) -> Virtqueue | None:
        """The selected queue if the driver may still change it (not live yet)."""
        queue = self.selected_queue
        if queue is None or queue.active:
            return None
        return queue

    def notify(self, index: int) -> None:
        """A queue notification that reached user space: wake the device's thread."""
        if 0 <= index < len(self.kick_fds):
            os.eventfd_write(self.kick_fds[index], 1)

    def bump_config_generation(self) -> None:
        self.config_generation = (self.config_generation + 1) & 0xFF

    # ------------------------------------------------------------ interrupts

    def signal_used(self, queue: Virtqueue) -> None:
        raise NotImplementedError

    def signal_config(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------ teardown

    def close(self) -> None:
        """Stop the device and release it (flush, close) and the eventfds; the
        eventfds are released even when the device's close fails."""
        try:
            with self.lock:
                self.device.close()
        finally:
            for fd in self.kick_fds:
                os.close(fd)
            self.kick_fds = []
