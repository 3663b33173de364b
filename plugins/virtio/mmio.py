"""virtio-mmio version 2 (virtio 1.2, 4.2): one register block per device.

The block sits in the arch's "virtio_mmio" window, with the device's configuration
space after the registers. QueueNotify writes reach the device's I/O thread through
an ioeventfd per queue (KVM_IOEVENTFD with the queue index as datamatch), so they
never exit to a vCPU thread; a notification that does reach user space (no ioeventfd,
or the model of KVM) takes the same path through the queue's eventfd.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from vmm.core.errors import KvmError

from .cdefs import offsetof, sizeof
from .constants import INTERRUPT_CONFIG_CHANGE, INTERRUPT_USED_BUFFER
from .interrupts import LineInterrupt
from .registers import RegisterMap
from .transport import Transport

if TYPE_CHECKING:
    from vmm.core.vm import Vm

    from .device import VirtioDevice
    from .queue import Virtqueue

log = logging.getLogger(__name__)

MAGIC_VALUE = int.from_bytes(b"virt", "little")
VERSION = 2
#: Vendor ID this VMM reports ("VMM" in ASCII, as kvmtool reports "LKVM").
VENDOR_ID = int.from_bytes(b"VMM\0", "little")
REGS = "struct virtio_mmio_regs"
CONFIG_OFFSET = sizeof(REGS)
NOTIFY_OFFSET = offsetof(REGS, "queue_notify")
NOTIFY_SIZE = 4
#: Size of one device's window: registers plus room for its configuration space.
MMIO_SIZE = 0x200
#: The owner of the transports' ranges on the MMIO bus (allocated in the layout's
#: shared device window).
OWNER = "virtio-mmio"
#: A shared memory region length of all ones means "no such region" (4.2.2).
NO_SHM = (1 << 32) - 1

_REGISTERS = RegisterMap(REGS)


class MmioTransport(Transport):
    """A virtio device behind a virtio-mmio register block."""

    def __init__(self, vm: Vm, device: VirtioDevice, base: int, irq: LineInterrupt) -> None:
        if CONFIG_OFFSET + device.config_size > MMIO_SIZE:
            raise ValueError(f"virtio-{device.name} config space does not fit its MMIO window")
        super().__init__(vm, device)
        self.base = base
        self.irq = irq
        self.interrupt_status = 0
        self.shm_sel = 0
        self._ioeventfds = False

    # ------------------------------------------------------------ wiring

    def attach(self) -> None:
        """Claim the window on the MMIO bus and register one ioeventfd per queue."""
        self.vm.mmio.register(self.base, MMIO_SIZE, self, owner=OWNER)
        vmfd = self.vm.vmfd
        if vmfd is None:
            return
        try:
            for index, fd in enumerate(self.kick_fds):
                vmfd.ioeventfd(
                    self.base + NOTIFY_OFFSET, NOTIFY_SIZE, fd, pio=False, datamatch=index
                )
            self._ioeventfds = True
        except KvmError as error:  # notifications still work, through a vCPU exit
            log.warning("virtio-%s: no ioeventfd (%s)", self.device.name, error)

    def detach(self) -> None:
        self.vm.mmio.unregister(self.base)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.irq.close()

    # ------------------------------------------------------------ bus device

    def io_read(self, offset: int, size: int) -> int:
        """A guest read of a register or of the configuration space."""
        if offset >= CONFIG_OFFSET:
            return self.device.read_config(offset - CONFIG_OFFSET, size)
        with self.lock:
            return _REGISTERS.read(offset, size, self._get)

    def io_write(self, offset: int, size: int, value: int) -> None:
        """A guest write of a register or of the configuration space."""
        if offset >= CONFIG_OFFSET:
            self.device.write_config(offset - CONFIG_OFFSET, size, value)
            return
        with self.lock:
            _REGISTERS.write(offset, size, value, self._get, self._set)

    # ------------------------------------------------------------ registers

    def _get(self, name: str) -> int:
        role = _COMMON_READS.get(name)
        if role is not None:
            return self.read_common(role)
        queue = self.selected_queue
        if name == "magic_value":
            return MAGIC_VALUE
        if name == "version":
            return VERSION
        if name == "device_id":
            return self.device.device_id
        if name == "vendor_id":
            return VENDOR_ID
        if name == "queue_num_max":
            return queue.max_size if queue is not None else 0
        if name == "queue_ready":
            return int(queue is not None and queue.ready)
        if name == "interrupt_status":
            return self.interrupt_status
        if name in ("shm_len_low", "shm_len_high", "shm_base_low", "shm_base_high"):
            return NO_SHM
        if name == "shm_sel":
            return self.shm_sel
        return 0  # write-only registers read as zero

    def _set(self, name: str, value: int) -> None:
        role = _COMMON_WRITES.get(name)
        if role is not None:
            self.write_common(role, value)
        elif name == "shm_sel":
            self.shm_sel = value
        elif name == "queue_notify":
            self.notify(value)
        elif name == "interrupt_ack":
            with self.irq_lock:
                self.interrupt_status &= ~value
                if not self.interrupt_status:
                    self.irq.deassert_line()
        else:
            self._set_queue(name, value)

    def _set_queue(self, name: str, value: int) -> None:
        queue = self.queue_configurable()
        if queue is None:
            return
        if name == "queue_ready":
            queue.ready = bool(value & 1)
        elif name in _ADDRESS_FIELDS:
            attribute, high = _ADDRESS_FIELDS[name]
            current = getattr(queue, attribute)
            if high:
                current = (current & 0xFFFFFFFF) | (value << 32)
            else:
                current = (current & ~0xFFFFFFFF) | value
            setattr(queue, attribute, current)

    # ------------------------------------------------------------ interrupts

    def signal_used(self, queue: Virtqueue) -> None:
        self._interrupt(INTERRUPT_USED_BUFFER)

    def signal_config(self) -> None:
        self.bump_config_generation()
        self._interrupt(INTERRUPT_CONFIG_CHANGE)

    def _interrupt(self, bit: int) -> None:
        """Set the status bit and raise the line, ordered with the driver's ACKs."""
        with self.irq_lock:
            self.interrupt_status |= bit
            self.irq.assert_line()

    def reset_interrupts(self) -> None:
        self.interrupt_status = 0
        self.irq.deassert_line()


#: virtio-mmio's names of the registers every transport has -> their role
#: (:meth:`Transport.read_common`). DriverFeatures and QueueNum are write-only here.
_COMMON_WRITES = {
    "device_features_sel": "device_features_sel",
    "driver_features_sel": "driver_features_sel",
    "driver_features": "driver_features",
    "queue_sel": "queue_sel",
    "queue_num": "queue_size",
    "status": "status",
}
_COMMON_READS = {
    "device_features": "device_features",
    "device_features_sel": "device_features_sel",
    "driver_features_sel": "driver_features_sel",
    "queue_sel": "queue_sel",
    "status": "status",
    "config_generation": "config_generation",
}

_ADDRESS_FIELDS = {
    "queue_desc_low": ("desc_addr", False),
    "queue_desc_high": ("desc_addr", True),
    "queue_driver_low": ("avail_addr", False),
    "queue_driver_high": ("avail_addr", True),
    "queue_device_low": ("used_addr", False),
    "queue_device_high": ("used_addr", True),
}
