"""virtio-pci, modern only (virtio 1.2, 4.1): one function per device, one memory BAR.

BAR 0 holds, each in its own page, the common configuration, the ISR byte, the
device configuration, the notification area (one 4-byte slot per queue, each with an
ioeventfd so notifications never reach a vCPU thread) and the MSI-X table and pending
bits. Interrupts are MSI-X (KVM_SIGNAL_MSI from the device's I/O thread) when the
arch's interrupt controller takes MSIs, else INTx pin A driven as a level through
the irqchip facade. The BAR moves wherever the guest programs it; the MMIO bus range
and the ioeventfds follow.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from vmm.core.bus import BusConflictError
from vmm.core.errors import KvmError

from ..cdefs import ffi, offsetof, sizeof
from ..constants import INTERRUPT_CONFIG_CHANGE, INTERRUPT_USED_BUFFER
from ..registers import RegisterMap
from ..transport import Transport
from .config import (
    CAP_ID_MSIX,
    CAP_ID_VENDOR,
    COMMAND_INTX_DISABLE,
    COMMAND_MEMORY,
    INTERRUPT_PIN_A,
    PciConfig,
)
from .msix import CONTROL as MSIX_CONTROL
from .msix import CONTROL_SIZE as MSIX_CONTROL_SIZE
from .msix import NO_VECTOR, Msix

if TYPE_CHECKING:
    from vmm.core.vm import Vm

    from ..device import VirtioDevice
    from ..interrupts import LineInterrupt
    from ..queue import Virtqueue

log = logging.getLogger(__name__)

VIRTIO_VENDOR_ID = 0x1AF4
#: Modern device IDs are 0x1040 + the virtio device ID (4.1.2.1).
MODERN_DEVICE_BASE = 0x1040
MODERN_REVISION = 1

# virtio_pci_cap.cfg_type values (4.1.4).
CAP_COMMON_CFG = 1
CAP_NOTIFY_CFG = 2
CAP_ISR_CFG = 3
CAP_DEVICE_CFG = 4
CAP_PCI_CFG = 5

# BAR 0 layout: one page per region.
REGION_SIZE = 0x1000
COMMON_OFFSET = 0 * REGION_SIZE
ISR_OFFSET = 1 * REGION_SIZE
DEVICE_OFFSET = 2 * REGION_SIZE
NOTIFY_OFFSET = 3 * REGION_SIZE
MSIX_TABLE_OFFSET = 4 * REGION_SIZE
MSIX_PBA_OFFSET = 5 * REGION_SIZE
BAR_SIZE = 8 * REGION_SIZE
#: The owner of the BARs' ranges on the MMIO bus: the layout's PCI MMIO window, which
#: the guest may leave (it places BARs), but never for a window reserved for another.
BAR_OWNER = "pci_mmio"
NOTIFY_MULTIPLIER = ffi.sizeof("uint32_t")
NOTIFY_ACCESS = ffi.sizeof("uint16_t")
BAR_INDEX = 0

COMMON = "struct virtio_pci_common_cfg"
_COMMON = RegisterMap(COMMON)
CAP = "struct virtio_pci_cap"
CFG_CAP = "struct virtio_pci_cfg_cap"
CFG_DATA = offsetof(CFG_CAP, "pci_cfg_data")
CFG_DATA_SIZE = ffi.sizeof("uint32_t")


class VirtioPciTransport(Transport):
    """A virtio device as a PCI function."""

    def __init__(
        self,
        vm: Vm,
        device: VirtioDevice,
        *,
        is64: bool,
        msi: bool,
        intx: LineInterrupt | None,
    ) -> None:
        super().__init__(vm, device)
        self.config = PciConfig(
            VIRTIO_VENDOR_ID,
            MODERN_DEVICE_BASE + device.device_id,
            device.pci_class,
            subsystem_vendor_id=VIRTIO_VENDOR_ID,
            subsystem_id=MODERN_DEVICE_BASE + device.device_id,
            revision=MODERN_REVISION,
        )
        self.bar = self.config.add_bar(BAR_INDEX, BAR_SIZE, is64=is64)
        self.intx = intx
        if intx is not None:
            self.config.header.interrupt_pin = INTERRUPT_PIN_A
            self.config.header.interrupt_line = intx.line & 0xFF
        self.msix: Msix | None = None
        if msi:
            self.msix = Msix(vm.vmfd, len(device.queues) + 1, BAR_INDEX,
                             MSIX_TABLE_OFFSET, MSIX_PBA_OFFSET)
            msix_at = self.config.add_capability(
                CAP_ID_MSIX, self.msix.capability(), wmask=Msix.capability_wmask(),
                on_write=lambda: self._msix_control_written(msix_at))
        self._add_virtio_capabilities()
        self.isr = 0
        self.config_msix_vector = NO_VECTOR
        self.mapped_at: int | None = None
        self._notify_registered: list[tuple[int, int]] = []

    # ------------------------------------------------------------ capabilities

    def _virtio_cap(self, ctype: str, cfg_type: int, offset: int, length: int) -> Any:
        cap = ffi.new(f"{ctype} *")
        base = cap if ctype == CAP else cap.cap
        base.cap_vndr = CAP_ID_VENDOR
        base.cap_len = ffi.sizeof(ctype)
        base.cfg_type = cfg_type
        base.bar = BAR_INDEX
        base.offset = offset
        base.length = length
        return cap

    def _add_virtio_capabilities(self) -> None:
        config = self.config
        queues = len(self.device.queues)
        for cfg_type, offset, length in (
            (CAP_COMMON_CFG, COMMON_OFFSET, sizeof(COMMON)),
            (CAP_ISR_CFG, ISR_OFFSET, 1),
            (CAP_DEVICE_CFG, DEVICE_OFFSET, self.device.config_size),
        ):
            if length:
                cap = self._virtio_cap(CAP, cfg_type, offset, length)
                config.add_capability(CAP_ID_VENDOR, bytes(ffi.buffer(cap)))
        notify = self._virtio_cap("struct virtio_pci_notify_cap", CAP_NOTIFY_CFG,
                                  NOTIFY_OFFSET, queues * NOTIFY_MULTIPLIER)
        notify.notify_off_multiplier = NOTIFY_MULTIPLIER
        config.add_capability(CAP_ID_VENDOR, bytes(ffi.buffer(notify)))
        pci_cfg = self._virtio_cap(CFG_CAP, CAP_PCI_CFG, 0, 0)
        writable = bytearray(CFG_DATA)  # bar, offset and length are the driver's
        fields = dict(ffi.typeof(CAP).fields)
        for name in ("bar", "offset", "length"):
            start = offsetof(CFG_CAP, "cap", name)
            size = ffi.sizeof(fields[name].type)
            writable[start : start + size] = b"\xff" * size
        self._pci_cfg_at = config.add_capability(
            CAP_ID_VENDOR, bytes(ffi.buffer(pci_cfg)), wmask=bytes(writable),
            handler=self._pci_cfg_access,
        )

    def _msix_control_written(self, cap: int) -> None:
        assert self.msix is not None
        self.msix.control_written(self.config.read(cap + MSIX_CONTROL, MSIX_CONTROL_SIZE))

    def _pci_cfg_access(self, offset: int, size: int, value: int | None) -> int | None:
        """VIRTIO_PCI_CAP_PCI_CFG: the data window reaches BAR 0 at the chosen offset."""
        if not CFG_DATA <= offset < CFG_DATA + CFG_DATA_SIZE:
            return None
        at = self._pci_cfg_at
        cap = ffi.from_buffer(f"{CFG_CAP} *", self.config.data[at : at + sizeof(CFG_CAP)])
        length = cap.cap.length
        if cap.cap.bar != BAR_INDEX or length not in (1, 2, 4) or size != length:
            return 0
        if value is None:
            return self.bar_read(cap.cap.offset, length)
        self.bar_write(cap.cap.offset, length, value)
        return 0

    # ------------------------------------------------------------ configuration space

    def config_read(self, offset: int, size: int) -> int:
        return self.config.read(offset, size)

    def config_write(self, offset: int, size: int, value: int) -> None:
        self.config.write(offset, size, value)
        self.update_mapping()

    def update_mapping(self) -> None:
        """Follow the BAR: (un)claim its MMIO range and move the notify ioeventfds."""
        address = self.config.bar_address(self.bar)
        wanted = address if self.config.command & COMMAND_MEMORY and address else None
        if wanted == self.mapped_at:
            return
        self._unmap()
        if wanted is None:
            return
        try:
            self.vm.mmio.register(wanted, BAR_SIZE, _BarRegion(self), owner=BAR_OWNER)
        except BusConflictError as error:
            log.warning("virtio-%s: BAR at %#x not mapped: %s", self.device.name, wanted, error)
            return
        self.mapped_at = wanted
        self._register_notify(wanted)

    def _unmap(self) -> None:
        if self.mapped_at is None:
            return
        self.vm.mmio.unregister(self.mapped_at)
        vmfd = self.vm.vmfd
        for address, fd in self._notify_registered:
            assert vmfd is not None  # registered through it (_register_notify)
            try:
                vmfd.ioeventfd(address, NOTIFY_ACCESS, fd, pio=False, deassign=True)
            except KvmError as error:
                log.debug("ioeventfd at %#x not removed: %s", address, error)
        self._notify_registered = []
        self.mapped_at = None

    def _register_notify(self, base: int) -> None:
        vmfd = self.vm.vmfd
        if vmfd is None:
            return
        for index, fd in enumerate(self.kick_fds):
            address = base + NOTIFY_OFFSET + index * NOTIFY_MULTIPLIER
            try:
                vmfd.ioeventfd(address, NOTIFY_ACCESS, fd, pio=False)
            except KvmError as error:  # notifications still work through a vCPU exit
                log.warning("virtio-%s: no ioeventfd (%s)", self.device.name, error)
                return
            self._notify_registered.append((address, fd))

    # ------------------------------------------------------------ BAR 0

    def bar_read(self, offset: int, size: int) -> int:
        region, within = divmod(offset, REGION_SIZE)
        if region == COMMON_OFFSET // REGION_SIZE:
            with self.lock:
                return _COMMON.read(within, size, self._common_get)
        if region == ISR_OFFSET // REGION_SIZE:
            return self._read_isr() if within == 0 else 0
        if region == DEVICE_OFFSET // REGION_SIZE:
            return self.device.read_config(within, size)
        if self.msix is not None and region == MSIX_TABLE_OFFSET // REGION_SIZE:
            return self.msix.table_read(within, size)
        if self.msix is not None and region == MSIX_PBA_OFFSET // REGION_SIZE:
            return self.msix.pba_read(within, size)
        return 0

    def bar_write(self, offset: int, size: int, value: int) -> None:
        region, within = divmod(offset, REGION_SIZE)
        if region == COMMON_OFFSET // REGION_SIZE:
            with self.lock:
                _COMMON.write(within, size, value, self._common_get, self._common_set)
        elif region == DEVICE_OFFSET // REGION_SIZE:
            self.device.write_config(within, size, value)
        elif region == NOTIFY_OFFSET // REGION_SIZE:
            self.notify(within // NOTIFY_MULTIPLIER)
        elif self.msix is not None and region == MSIX_TABLE_OFFSET // REGION_SIZE:
            self.msix.table_write(within, size, value)

    def _read_isr(self) -> int:
        """Reading the ISR returns and clears it, and lowers INTx (4.1.4.5)."""
        with self.irq_lock:
            value, self.isr = self.isr, 0
            if self.intx is not None:
                self.intx.deassert_line()
        return value

    # ------------------------------------------------------------ common configuration

    def _common_get(self, name: str) -> int:
        role = _COMMON_ROLES.get(name)
        if role is not None:
            return self.read_common(role)
        if name == "config_msix_vector":
            return self.config_msix_vector
        if name == "num_queues":
            return len(self.device.queues)
        queue = self.selected_queue
        if queue is None:
            return NO_VECTOR if name == "queue_msix_vector" else 0
        if name == "queue_msix_vector":
            return queue.msix_vector
        if name == "queue_enable":
            return int(queue.ready)
        if name == "queue_notify_off":
            return queue.index
        if name in _QUEUE_ADDRESSES:
            return getattr(queue, _QUEUE_ADDRESSES[name])
        return 0

    def _common_set(self, name: str, value: int) -> None:
        role = _COMMON_ROLES.get(name)
        if role is not None:
            self.write_common(role, value)
        elif name == "config_msix_vector":
            self.config_msix_vector = self._valid_vector(value)
        elif name == "queue_msix_vector":
            if self.selected_queue is not None:
                self.selected_queue.msix_vector = self._valid_vector(value)
        else:
            self._set_queue(name, value)

    def _set_queue(self, name: str, value: int) -> None:
        queue = self.queue_configurable()
        if queue is None:
            return
        if name == "queue_enable":
            queue.ready = queue.ready or value == 1
        elif name in _QUEUE_ADDRESSES:
            setattr(queue, _QUEUE_ADDRESSES[name], value)

    def _valid_vector(self, vector: int) -> int:
        """A vector the table has, else NO_VECTOR (which tells the driver it failed)."""
        if self.msix is None or vector >= self.msix.vectors:
            return NO_VECTOR
        return vector

    # ------------------------------------------------------------ interrupts

    def signal_used(self, queue: Virtqueue) -> None:
        self._interrupt(INTERRUPT_USED_BUFFER, queue.msix_vector)

    def signal_config(self) -> None:
        self.bump_config_generation()
        self._interrupt(INTERRUPT_CONFIG_CHANGE, self.config_msix_vector)

    def _interrupt(self, bit: int, vector: int) -> None:
        """MSI-X when the driver enabled it, else the ISR bit and INTx."""
        if self.msix is not None and self.msix.signal(vector):
            if bit == INTERRUPT_CONFIG_CHANGE:
                with self.irq_lock:
                    self.isr |= bit
            return
        with self.irq_lock:
            self.isr |= bit
            if self.intx is not None and not self.config.command & COMMAND_INTX_DISABLE:
                self.intx.assert_line()

    def reset_interrupts(self) -> None:
        self.isr = 0
        self.config_msix_vector = NO_VECTOR
        if self.intx is not None:
            self.intx.deassert_line()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._unmap()
            if self.intx is not None:
                self.intx.close()


class _BarRegion:
    """BAR 0 on the MMIO bus."""

    def __init__(self, transport: VirtioPciTransport) -> None:
        self.transport = transport

    def io_read(self, offset: int, size: int) -> int:
        return self.transport.bar_read(offset, size)

    def io_write(self, offset: int, size: int, value: int) -> None:
        self.transport.bar_write(offset, size, value)


#: virtio-pci's names of the registers every transport has -> their role
#: (:meth:`Transport.read_common`).
_COMMON_ROLES = {
    "device_feature_select": "device_features_sel",
    "device_feature": "device_features",
    "driver_feature_select": "driver_features_sel",
    "driver_feature": "driver_features",
    "queue_select": "queue_sel",
    "queue_size": "queue_size",
    "device_status": "status",
    "config_generation": "config_generation",
}

_QUEUE_ADDRESSES = {
    "queue_desc": "desc_addr",
    "queue_driver": "avail_addr",
    "queue_device": "used_addr",
}
