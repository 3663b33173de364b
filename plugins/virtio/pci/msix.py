"""MSI-X (PCI 3.0, 6.8.2): a vector table and pending bits, delivered by KVM_SIGNAL_MSI.

The device's I/O thread calls :meth:`Msix.signal`; an unmasked vector becomes one
KVM_SIGNAL_MSI ioctl with the address and data the driver wrote in the table (and
the function's requester ID where the interrupt controller wants it: an arm64 ITS),
a masked one sets its pending bit and is sent when the driver unmasks it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from vmm.core.errors import KvmError

from ..cdefs import ffi, offsetof, sizeof
from .config import CAP_ID_MSIX

log = logging.getLogger(__name__)

ENTRY = "struct msix_table_entry"
ENTRY_SIZE = sizeof(ENTRY)
CAP = "struct pci_msix_cap"
CONTROL = offsetof(CAP, "control")
CONTROL_SIZE = ffi.sizeof("uint16_t")
CONTROL_ENABLE = 1 << 15
CONTROL_FUNCTION_MASK = 1 << 14
VECTOR_MASKED = 1
NO_VECTOR = 0xFFFF
PBA_WORD = ffi.sizeof("uint64_t")


class Msix:
    """The MSI-X state of one function: ``vectors`` table entries in a BAR."""

    def __init__(self, vmfd: Any, vectors: int, bar: int, table_offset: int,
                 pba_offset: int) -> None:
        self.vmfd = vmfd
        self.vectors = vectors
        self.lock = threading.Lock()
        self._table_bytes = bytearray(vectors * ENTRY_SIZE)
        self.table = ffi.from_buffer(f"{ENTRY}[]", self._table_bytes)
        for entry in self.table:
            entry.vector_control = VECTOR_MASKED
        self.pending = 0
        self.control = 0
        self.table_offset = table_offset
        self.pba_offset = pba_offset
        self.bar = bar
        #: The function's requester ID, sent with each message when the interrupt
        #: controller needs it to tell devices apart (a GICv3 ITS); else None.
        self.devid: int | None = None

    @property
    def table_size(self) -> int:
        return len(self._table_bytes)

    @property
    def pba_size(self) -> int:
        return (self.vectors + 63) // 64 * PBA_WORD

    @property
    def enabled(self) -> bool:
        return bool(self.control & CONTROL_ENABLE)

    def capability(self) -> bytes:
        """The capability's bytes: table size, table and PBA offsets in the BAR."""
        cap = ffi.new(f"{CAP} *")
        cap.cap_id = CAP_ID_MSIX
        cap.control = self.vectors - 1
        cap.table = self.table_offset | self.bar
        cap.pba = self.pba_offset | self.bar
        return bytes(ffi.buffer(cap))

    @staticmethod
    def capability_wmask() -> bytes:
        """What software may write in the capability: Message Control's Enable and
        Function Mask bits (the table size and the offsets are read-only)."""
        mask = bytearray(CONTROL + CONTROL_SIZE)
        mask[CONTROL:] = (CONTROL_ENABLE | CONTROL_FUNCTION_MASK).to_bytes(CONTROL_SIZE, "little")
        return bytes(mask)

    def control_written(self, control: int) -> None:
        """Message Control now reads ``control``: follow Enable and Function Mask,
        and send what became deliverable."""
        with self.lock:
            self.control = control & (CONTROL_ENABLE | CONTROL_FUNCTION_MASK)
            self._deliver_pending()

    # ------------------------------------------------------------ table and PBA

    def table_read(self, offset: int, size: int) -> int:
        if offset + size > self.table_size:
            return 0
        return int.from_bytes(self._table_bytes[offset : offset + size], "little")

    def table_write(self, offset: int, size: int, value: int) -> None:
        if offset + size > self.table_size:
            return
        with self.lock:
            self._table_bytes[offset : offset + size] = value.to_bytes(size, "little")
            self._deliver_pending()

    def pba_read(self, offset: int, size: int) -> int:
        if offset + size > self.pba_size:
            return 0
        return (self.pending >> (8 * offset)) & ((1 << (8 * size)) - 1)

    # ------------------------------------------------------------ delivery

    def signal(self, vector: int) -> bool:
        """Send ``vector`` (or mark it pending); False when MSI-X is off."""
        with self.lock:
            if not self.enabled:
                return False
            if vector >= self.vectors:
                return True  # NO_VECTOR: the driver asked for no interrupt
            if self.control & CONTROL_FUNCTION_MASK or self.table[vector].vector_control & 1:
                self.pending |= 1 << vector
                return True
            self._send(vector)
            return True

    def _deliver_pending(self) -> None:
        if not self.pending or not self.enabled or self.control & CONTROL_FUNCTION_MASK:
            return
        for vector in range(self.vectors):
            if self.pending >> vector & 1 and not self.table[vector].vector_control & 1:
                self.pending &= ~(1 << vector)
                self._send(vector)

    def _send(self, vector: int) -> None:
        entry = self.table[vector]
        address = entry.address_hi << 32 | entry.address_lo
        try:
            self.vmfd.signal_msi(address, entry.data, self.devid)
        except KvmError as error:
            log.debug("MSI-X vector %d not delivered: %s", vector, error)
