"""A CFI NOR flash (Intel/Sharp command set) backed by a file, as kvmtool's ``--flash``.

One 32-bit wide device. In read-array mode its contents are mapped into the guest as a
read-only memslot, so reads cost no exit; writes still exit and are commands. Any
other mode (status, identifier, CFI query, program, erase) unmaps the array so reads
come here. Failing to map or unmap is reported as a one-line error that stops the
VM, never ignored.
"""

from __future__ import annotations

import mmap
import os
import threading
from collections.abc import Callable

from vmm.core.errors import ConfigError, VmmError

from .layout import FLASH_MAX_SIZE

BUS_WIDTH = 4
BLOCK_SIZE = 64 * 1024
#: Words a buffered program may carry (2^6 bytes = 16 words of 4 bytes).
WRITE_BUFFER_LOG2 = 6

# Commands (the low byte of a write).
CMD_READ_ARRAY = 0xFF
CMD_READ_STATUS = 0x70
CMD_CLEAR_STATUS = 0x50
CMD_READ_ID = 0x90
CMD_QUERY = 0x98
CMD_PROGRAM = 0x40
CMD_PROGRAM_ALT = 0x10
CMD_ERASE = 0x20
CMD_BUFFERED_PROGRAM = 0xE8
CMD_CONFIRM = 0xD0
CMD_LOCK_SETUP = 0x60
CMD_LOCK_BLOCK = 0x01

# Status register bits.
STATUS_READY = 0x80
STATUS_ERASE_ERROR = 0x20
STATUS_PROGRAM_ERROR = 0x10

MANUFACTURER_INTEL = 0x89
DEVICE_ID = 0x18

MODE_ARRAY, MODE_STATUS, MODE_ID, MODE_QUERY = "array", "status", "id", "query"
MODE_PROGRAM, MODE_ERASE, MODE_BUFFER_COUNT, MODE_BUFFER_DATA, MODE_LOCK = (
    "program", "erase", "buffer-count", "buffer-data", "lock")


def check_flash_file(path: str) -> int:
    """The size of a usable flash image, or a ConfigError saying what is wrong."""
    if not os.path.isfile(path):
        raise ConfigError(f"--flash {path!r}: no such file")
    if not os.access(path, os.R_OK | os.W_OK):
        raise ConfigError(f"--flash {path!r}: the file must be readable and writable")
    size = os.path.getsize(path)
    if size < BLOCK_SIZE or size > FLASH_MAX_SIZE or size & (size - 1):
        raise ConfigError(
            f"--flash {path!r}: the size must be a power of two from 64 KiB to 16 MiB "
            f"(got {size} bytes)"
        )
    return size


def cfi_query_table(size: int) -> dict[int, int]:
    """The CFI query structure (word index -> value) for a ``size``-byte device."""
    blocks = size // BLOCK_SIZE
    table = {
        0x10: ord("Q"), 0x11: ord("R"), 0x12: ord("Y"),
        0x13: 0x01, 0x14: 0x00,  # primary command set: Intel/Sharp extended
        0x15: 0x31, 0x16: 0x00,  # primary extended table address
        0x1B: 0x45, 0x1C: 0x55,  # Vcc 4.5-5.5 V
        0x1F: 0x01, 0x20: 0x01, 0x21: 0x01,  # typical timeouts (2^n us/us/ms)
        0x23: 0x01, 0x24: 0x01, 0x25: 0x01,  # maximum timeouts
        0x27: size.bit_length() - 1,  # device size, 2^n bytes
        0x28: 0x03, 0x29: 0x00,  # interface: x32
        0x2A: WRITE_BUFFER_LOG2, 0x2B: 0x00,
        0x2C: 0x01,  # one erase block region
        0x2D: (blocks - 1) & 0xFF, 0x2E: (blocks - 1) >> 8,
        0x2F: (BLOCK_SIZE >> 8) & 0xFF, 0x30: BLOCK_SIZE >> 16,
        0x31: ord("P"), 0x32: ord("R"), 0x33: ord("I"), 0x34: ord("1"), 0x35: ord("0"),
    }
    return table


class CfiFlash:
    """The flash device on the MMIO bus; ``map_array(mapped)`` toggles the memslot."""

    def __init__(self, path: str, map_array: Callable[[bool], None]) -> None:
        self.path = path
        self.size = check_flash_file(path)
        self._file = open(path, "r+b")  # noqa: SIM115 - closed in close()
        self.array = mmap.mmap(self._file.fileno(), self.size, mmap.MAP_SHARED,
                               mmap.PROT_READ | mmap.PROT_WRITE)
        self._map_array = map_array
        self._query = cfi_query_table(self.size)
        self._lock = threading.Lock()
        self.mode = MODE_ARRAY
        self.status = STATUS_READY
        self._buffer_words = 0
        self._buffer_base = 0
        self.mapped = False

    # -- bus -----------------------------------------------------------------------------

    def io_read(self, offset: int, size: int) -> int:
        """Reads while the array is unmapped: array, status, identifier or query data."""
        with self._lock:
            if self.mode == MODE_ARRAY:
                return int.from_bytes(self.array[offset : offset + size], "little")
            if self.mode == MODE_ID:
                return self._id_word(offset // BUS_WIDTH)
            if self.mode == MODE_QUERY:
                return self._query.get(offset // BUS_WIDTH, 0)
            return self.status

    def io_write(self, offset: int, size: int, value: int) -> None:
        """A command, or the data a pending command waits for."""
        with self._lock:
            self._write(offset, size, value)

    # -- state machine -----------------------------------------------------------------

    def _write(self, offset: int, size: int, value: int) -> None:
        mode = self.mode
        if mode == MODE_PROGRAM:
            self._program(offset, value.to_bytes(size, "little"))
            self._enter(MODE_STATUS)
        elif mode == MODE_ERASE:
            if value & 0xFF == CMD_CONFIRM:
                block = offset - offset % BLOCK_SIZE
                self.array[block : block + BLOCK_SIZE] = b"\xff" * BLOCK_SIZE
            else:
                self.status |= STATUS_ERASE_ERROR | STATUS_PROGRAM_ERROR
            self._enter(MODE_STATUS)
        elif mode == MODE_BUFFER_COUNT:
            self._buffer_words = (value & 0xFF) + 1
            self._buffer_base = offset
            if self._buffer_words * BUS_WIDTH > 1 << WRITE_BUFFER_LOG2:
                self.status |= STATUS_PROGRAM_ERROR
                self._enter(MODE_STATUS)
            else:
                self.mode = MODE_BUFFER_DATA
        elif mode == MODE_BUFFER_DATA and self._buffer_words:
            self._program(offset, value.to_bytes(size, "little"))
            self._buffer_words -= 1
        elif mode == MODE_BUFFER_DATA:
            if value & 0xFF != CMD_CONFIRM:
                self.status |= STATUS_PROGRAM_ERROR
            self._enter(MODE_STATUS)
        elif mode == MODE_LOCK:
            self._enter(MODE_STATUS)  # lock and unlock are accepted and ignored
        else:
            self._command(value & 0xFF)

    def _command(self, command: int) -> None:
        if command == CMD_READ_ARRAY:
            self._enter(MODE_ARRAY)
        elif command == CMD_READ_STATUS:
            self._enter(MODE_STATUS)
        elif command == CMD_CLEAR_STATUS:
            self.status = STATUS_READY
            self._enter(MODE_STATUS)
        elif command == CMD_READ_ID:
            self._enter(MODE_ID)
        elif command == CMD_QUERY:
            self._enter(MODE_QUERY)
        elif command in (CMD_PROGRAM, CMD_PROGRAM_ALT):
            self._enter(MODE_PROGRAM)
        elif command == CMD_ERASE:
            self._enter(MODE_ERASE)
        elif command == CMD_BUFFERED_PROGRAM:
            self._enter(MODE_BUFFER_COUNT)
        elif command == CMD_LOCK_SETUP:
            self._enter(MODE_LOCK)
        else:
            self.status |= STATUS_PROGRAM_ERROR | STATUS_ERASE_ERROR
            self._enter(MODE_STATUS)

    def _program(self, offset: int, data: bytes) -> None:
        """NOR programming only clears bits."""
        if offset + len(data) > self.size:
            self.status |= STATUS_PROGRAM_ERROR
            return
        old = self.array[offset : offset + len(data)]
        self.array[offset : offset + len(data)] = bytes(a & b for a, b in zip(old, data, strict=True))

    def _id_word(self, index: int) -> int:
        return {0: MANUFACTURER_INTEL, 1: DEVICE_ID}.get(index % (BLOCK_SIZE // BUS_WIDTH), 0)

    def _enter(self, mode: str) -> None:
        """Change mode, mapping the array in read-array mode and unmapping it otherwise."""
        self.mode = mode
        self.set_mapped(mode == MODE_ARRAY)

    def set_mapped(self, mapped: bool) -> None:
        """Map or unmap the array memslot; a failure becomes a one-line VmmError."""
        if mapped == self.mapped:
            return
        try:
            self._map_array(mapped)
        except VmmError as error:
            what = "map" if mapped else "unmap"
            raise VmmError(f"flash {self.path!r}: could not {what} the array: {error}") from None
        self.mapped = mapped

    def close(self) -> None:
        """Write the contents back to the file and release it."""
        try:
            self.array.flush()
            self.array.close()
        except BufferError:
            pass  # KVM's memslot view is still exported; the process exit frees it
        self._file.close()
