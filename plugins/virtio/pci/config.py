"""A PCI function's configuration space: bytes plus masks of what software may write.

Each byte has a write mask, so read-only fields stay as they are and a BAR's low
address bits stay zero: writing all ones to a BAR then reads back its size mask, as
BAR sizing expects, with no special case. Capabilities are appended to the list at
0x40 onwards; a capability may give a handler that takes over accesses to it
(virtio's PCI configuration access window), or be told after a write reached its
bytes (MSI-X's Message Control, whose writable bits are in the write mask).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..cdefs import ffi, offsetof, sizeof

CONFIG_SIZE = 256
HEADER = "struct pci_config_header"
HEADER_SIZE = sizeof(HEADER)
OFF_COMMAND = offsetof(HEADER, "command")
OFF_STATUS = offsetof(HEADER, "status")
OFF_BAR0 = offsetof(HEADER, "bar")
BAR_SIZE_BYTES = ffi.sizeof("uint32_t")
OFF_CAPABILITIES = offsetof(HEADER, "capabilities")
OFF_INTERRUPT_LINE = offsetof(HEADER, "interrupt_line")

COMMAND_IO = 1 << 0
COMMAND_MEMORY = 1 << 1
COMMAND_MASTER = 1 << 2
COMMAND_INTX_DISABLE = 1 << 10
STATUS_INTERRUPT = 1 << 3
STATUS_CAP_LIST = 1 << 4
HEADER_TYPE_NORMAL = 0
BAR_MEMORY_64 = 0x4
BAR_TYPE_BITS = 0xF
INTERRUPT_PIN_A = 1

CAP_ID_VENDOR = 0x09
CAP_ID_MSIX = 0x11

ConfigHandler = Callable[[int, int, int | None], int | None]
WriteListener = Callable[[], None]


@dataclass
class Bar:
    """A memory BAR: its index, size (a power of two) and whether it is 64-bit."""

    index: int
    size: int
    is64: bool


@dataclass
class _Window:
    start: int
    end: int
    handler: ConfigHandler | None
    on_write: WriteListener | None = None


class PciConfig:
    """A type 0 configuration header with capabilities and memory BARs."""

    def __init__(
        self,
        vendor_id: int,
        device_id: int,
        class_code: tuple[int, int, int],
        *,
        subsystem_vendor_id: int = 0,
        subsystem_id: int = 0,
        revision: int = 0,
    ) -> None:
        self.data = bytearray(CONFIG_SIZE)
        self.wmask = bytearray(CONFIG_SIZE)
        self.header = ffi.from_buffer(f"{HEADER} *", self.data)
        header = self.header
        header.vendor_id = vendor_id
        header.device_id = device_id
        header.revision_id = revision
        header.class_code, header.subclass, header.prog_if = class_code
        header.header_type = HEADER_TYPE_NORMAL
        header.subsystem_vendor_id = subsystem_vendor_id
        header.subsystem_id = subsystem_id
        self._set_wmask(OFF_COMMAND, 2, COMMAND_IO | COMMAND_MEMORY | COMMAND_MASTER
                        | COMMAND_INTX_DISABLE)
        self._set_wmask(OFF_INTERRUPT_LINE, 1, 0xFF)
        self.bars: dict[int, Bar] = {}
        self._windows: list[_Window] = []
        self._last_cap: int | None = None
        self._next_cap = HEADER_SIZE

    def _set_wmask(self, offset: int, size: int, mask: int) -> None:
        self.wmask[offset : offset + size] = mask.to_bytes(size, "little")

    # ------------------------------------------------------------ building

    def add_bar(self, index: int, size: int, *, is64: bool) -> Bar:
        """Declare memory BAR ``index`` of ``size`` bytes (64-bit BARs take two slots)."""
        if size < 16 or size & (size - 1):
            raise ValueError(f"BAR size {size:#x} is not a power of two >= 16")
        offset = OFF_BAR0 + index * BAR_SIZE_BYTES
        self.data[offset] = BAR_MEMORY_64 if is64 else 0
        self._set_wmask(offset, BAR_SIZE_BYTES, ~(size - 1) & ~BAR_TYPE_BITS & 0xFFFFFFFF)
        if is64:
            self._set_wmask(offset + BAR_SIZE_BYTES, BAR_SIZE_BYTES, 0xFFFFFFFF)
        bar = Bar(index, size, is64)
        self.bars[index] = bar
        return bar

    def bar_address(self, bar: Bar) -> int:
        """The address software programmed into ``bar``."""
        offset = OFF_BAR0 + bar.index * BAR_SIZE_BYTES
        low = int.from_bytes(self.data[offset : offset + BAR_SIZE_BYTES], "little")
        address = low & ~BAR_TYPE_BITS
        if bar.is64:
            high = self.data[offset + BAR_SIZE_BYTES : offset + 2 * BAR_SIZE_BYTES]
            address |= int.from_bytes(high, "little") << 32
        return address

    def set_bar_address(self, bar: Bar, address: int) -> None:
        """Program ``bar`` as firmware would before the guest runs."""
        offset = OFF_BAR0 + bar.index * BAR_SIZE_BYTES
        low = (address & 0xFFFFFFFF) | self.data[offset] & BAR_TYPE_BITS
        self.data[offset : offset + BAR_SIZE_BYTES] = low.to_bytes(BAR_SIZE_BYTES, "little")
        if bar.is64:
            end = offset + 2 * BAR_SIZE_BYTES
            self.data[offset + BAR_SIZE_BYTES : end] = (address >> 32).to_bytes(4, "little")

    def add_capability(
        self, cap_id: int, body: bytes, *, wmask: bytes = b"",
        handler: ConfigHandler | None = None, on_write: WriteListener | None = None,
    ) -> int:
        """Append a capability (``body`` starts with its ID and next bytes); return its offset.

        ``wmask`` covers the start of the capability; ``handler(offset, size, value)``
        (``value`` None for reads, offsets relative to the capability) sees accesses
        to it first and may answer a read or take over a write by returning non-None.
        ``on_write()`` is called after any write that changed bytes of the
        capability through the write mask (whatever the access's size and start).
        """
        offset = (self._next_cap + 3) & ~3
        end = offset + len(body)
        if end > CONFIG_SIZE:
            raise ValueError("PCI capabilities don't fit the configuration space")
        self.data[offset:end] = body
        self.data[offset] = cap_id
        self.data[offset + 1] = 0
        self.wmask[offset : offset + len(wmask)] = wmask
        if self._last_cap is None:
            self.header.capabilities = offset
            self.header.status |= STATUS_CAP_LIST
        else:
            self.data[self._last_cap + 1] = offset
        self._last_cap = offset
        self._next_cap = end
        if handler is not None or on_write is not None:
            self._windows.append(_Window(offset, end, handler, on_write))
        return offset

    # ------------------------------------------------------------ access

    @property
    def command(self) -> int:
        return self.header.command

    def read(self, offset: int, size: int) -> int:
        """A configuration read (0 beyond the 256 bytes of conventional space)."""
        if offset + size > CONFIG_SIZE:
            return 0
        for window in self._windows:
            if window.handler is not None and window.start <= offset < window.end:
                answer = window.handler(offset - window.start, size, None)
                if answer is not None:
                    return answer
        return int.from_bytes(self.data[offset : offset + size], "little")

    def write(self, offset: int, size: int, value: int) -> None:
        """A configuration write, through the write masks (or a capability's handler)."""
        if offset + size > CONFIG_SIZE:
            return
        for window in self._windows:
            if window.handler is not None and window.start <= offset < window.end:
                if window.handler(offset - window.start, size, value) is not None:
                    return
        for index in range(size):
            mask = self.wmask[offset + index]
            byte = (value >> (8 * index)) & 0xFF
            self.data[offset + index] = (self.data[offset + index] & ~mask) | (byte & mask)
        for window in self._windows:
            if window.on_write is not None and offset < window.end and window.start < offset + size:
                window.on_write()
