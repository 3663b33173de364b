"""The debug-exit device: one read-only magic register and one exit register.

Register map (offsets from the device's base, little-endian, any access size up
to 4 bytes):

====== ======= ==========================================================
offset name    behaviour
====== ======= ==========================================================
0      MAGIC   reads :data:`MAGIC` (narrower reads give its low bytes);
               writes are ignored
4      EXIT    a write ends the VM with exit status ``value & 0xff``;
               reads give 0
====== ======= ==========================================================
"""

from __future__ import annotations

from collections.abc import Callable

#: What the MAGIC register reads: the bytes "vmm!" in guest (little-endian) order.
MAGIC = int.from_bytes(b"vmm!", "little")
MAGIC_REGISTER = 0
EXIT_REGISTER = 4
REGISTERS_SIZE = 8
EXIT_STATUS_MASK = 0xFF


class DebugExitDevice:
    """A bus device (``io_read``/``io_write``) that ends the VM on request."""

    def __init__(self, request_stop: Callable[[int], None]) -> None:
        self._request_stop = request_stop
        #: The exit statuses the guest asked for, in order.
        self.exit_requests: list[int] = []

    def io_read(self, offset: int, size: int) -> int:
        """MAGIC's bytes from ``offset``; anything else reads as 0."""
        if MAGIC_REGISTER <= offset < EXIT_REGISTER:
            shift = (offset - MAGIC_REGISTER) * 8
            return (MAGIC >> shift) & ((1 << (size * 8)) - 1)
        return 0

    def io_write(self, offset: int, size: int, value: int) -> None:
        """A write to EXIT stops the VM; other writes are ignored."""
        if offset == EXIT_REGISTER:
            status = value & EXIT_STATUS_MASK
            self.exit_requests.append(status)
            self._request_stop(status)
