"""The i8042 keyboard controller, as far as a VMM needs it: reset and a quiet probe.

Writing 0xfe (pulse the reset line) to the command port ends the VM with exit
status 0, as kvmtool does on a guest reboot; so does clearing the reset bit of the
output port (command 0xd1). Self-tests pass; no keyboard or mouse is attached, so
the controller never has data to report beyond replies to its own commands.
"""

from __future__ import annotations

from collections import deque
from typing import Callable

DATA = 0  # offset of port 0x60 from the device's base
COMMAND = 4  # offset of port 0x64

STATUS_OUTPUT_FULL = 0x01
STATUS_SYSTEM_FLAG = 0x04
STATUS_COMMAND = 0x08  # last write was a command

CMD_READ_CONFIG = 0x20
CMD_WRITE_CONFIG = 0x60
CMD_SELF_TEST = 0xAA
CMD_KBD_INTERFACE_TEST = 0xAB
CMD_AUX_INTERFACE_TEST = 0xA9
CMD_READ_OUTPUT_PORT = 0xD0
CMD_WRITE_OUTPUT_PORT = 0xD1
CMD_PULSE_RESET = 0xFE

SELF_TEST_PASSED = 0x55
INTERFACE_TEST_PASSED = 0x00
OUTPUT_PORT_RESET_BIT = 0x01  # 0: hold the CPU in reset
OUTPUT_PORT_A20 = 0x02
#: Replies kept for the guest to read; a guest that never reads loses the oldest
#: instead of growing vmm's memory.
REPLY_LIMIT = 16


class I8042:
    """Ports 0x60-0x64; ``reset()`` is called when the guest asks for a reset."""

    #: Ports 0x60..0x64 inclusive.
    SIZE = 5

    def __init__(self, reset: Callable[[], None]) -> None:
        self._reset = reset
        self._replies: deque[int] = deque(maxlen=REPLY_LIMIT)
        self._config = 0x45  # keyboard interrupt, system flag, translation
        self._output_port = OUTPUT_PORT_RESET_BIT | OUTPUT_PORT_A20
        self._pending_write: int | None = None
        self._last_was_command = False

    def io_read(self, offset: int, size: int) -> int:
        """Status on 0x64, the next reply byte on 0x60; other ports read all ones."""
        if offset == COMMAND:
            status = STATUS_SYSTEM_FLAG
            if self._replies:
                status |= STATUS_OUTPUT_FULL
            if self._last_was_command:
                status |= STATUS_COMMAND
            return status
        if offset == DATA:
            return self._replies.popleft() if self._replies else 0
        return 0xFF

    def io_write(self, offset: int, size: int, value: int) -> None:
        """A command on 0x64, or its parameter (or keyboard data) on 0x60."""
        value &= 0xFF
        if offset == COMMAND:
            self._last_was_command = True
            self._command(value)
        elif offset == DATA:
            self._last_was_command = False
            self._data(value)

    def _command(self, command: int) -> None:
        if command == CMD_PULSE_RESET:
            self._reset()
        elif command == CMD_READ_CONFIG:
            self._replies.append(self._config)
        elif command in (CMD_WRITE_CONFIG, CMD_WRITE_OUTPUT_PORT):
            self._pending_write = command
        elif command == CMD_SELF_TEST:
            self._replies.append(SELF_TEST_PASSED)
        elif command in (CMD_KBD_INTERFACE_TEST, CMD_AUX_INTERFACE_TEST):
            self._replies.append(INTERFACE_TEST_PASSED)
        elif command == CMD_READ_OUTPUT_PORT:
            self._replies.append(self._output_port)

    def _data(self, value: int) -> None:
        pending, self._pending_write = self._pending_write, None
        if pending == CMD_WRITE_CONFIG:
            self._config = value
        elif pending == CMD_WRITE_OUTPUT_PORT:
            self._output_port = value
            if not value & OUTPUT_PORT_RESET_BIT:
                self._reset()
