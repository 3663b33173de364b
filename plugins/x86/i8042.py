"""The i8042 keyboard controller, as far as a VMM needs it: reset and a quick probe.

Writing 0xfe (pulse the reset line) to the command port ends the VM with exit
status 0, as kvmtool does on a guest reboot; so does clearing the reset bit of the
output port (command 0xd1). No keyboard or mouse is attached, but the controller
answers everything Linux's i8042 driver asks while probing, so that no command
waits for its 500 ms timeout: the self and interface tests pass, the command byte
(CTR) keeps the bits the enable/disable commands set, and the AUX port's loopback
(0xd3) returns its byte as AUX data with IRQ 12 when the CTR enables it (the
driver checks that interrupt). Bytes sent to a device (keyboard data, 0xd4) get no
answer: there is no device.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

DATA = 0  # offset of port 0x60 from the device's base
COMMAND = 4  # offset of port 0x64

STATUS_OUTPUT_FULL = 0x01
STATUS_SYSTEM_FLAG = 0x04
STATUS_COMMAND = 0x08  # last write was a command
STATUS_NOT_INHIBITED = 0x10  # the keyboard lock switch is open
STATUS_AUX_DATA = 0x20  # the output byte came from the AUX port

CTR_KBD_INTERRUPT = 0x01
CTR_AUX_INTERRUPT = 0x02
CTR_KBD_DISABLED = 0x10
CTR_AUX_DISABLED = 0x20

CMD_READ_CONFIG = 0x20
CMD_WRITE_CONFIG = 0x60
CMD_AUX_DISABLE = 0xA7
CMD_AUX_ENABLE = 0xA8
CMD_AUX_INTERFACE_TEST = 0xA9
CMD_SELF_TEST = 0xAA
CMD_KBD_INTERFACE_TEST = 0xAB
CMD_KBD_DISABLE = 0xAD
CMD_KBD_ENABLE = 0xAE
CMD_READ_OUTPUT_PORT = 0xD0
CMD_WRITE_OUTPUT_PORT = 0xD1
CMD_KBD_LOOPBACK = 0xD2
CMD_AUX_LOOPBACK = 0xD3
CMD_PULSE_RESET = 0xFE

#: Commands whose next data byte is their parameter.
COMMANDS_WITH_PARAMETER = frozenset(
    {CMD_WRITE_CONFIG, CMD_WRITE_OUTPUT_PORT, CMD_KBD_LOOPBACK, CMD_AUX_LOOPBACK})
#: Commands that set (True) or clear (False) a CTR bit.
CTR_TOGGLES = {CMD_AUX_DISABLE: (CTR_AUX_DISABLED, True), CMD_AUX_ENABLE: (CTR_AUX_DISABLED, False),
               CMD_KBD_DISABLE: (CTR_KBD_DISABLED, True), CMD_KBD_ENABLE: (CTR_KBD_DISABLED, False)}

SELF_TEST_PASSED = 0x55
INTERFACE_TEST_PASSED = 0x00
OUTPUT_PORT_RESET_BIT = 0x01  # 0: hold the CPU in reset
OUTPUT_PORT_A20 = 0x02
#: Replies kept for the guest to read; a guest that never reads loses the oldest
#: instead of growing vmm's memory.
REPLY_LIMIT = 16


class I8042:
    """Ports 0x60..0x64: ``reset()`` ends the VM, ``set_irq(line, level)`` drives
    IRQ 1 (keyboard) and IRQ 12 (AUX)."""

    #: Ports 0x60..0x64 inclusive.
    SIZE = 5
    KBD_IRQ = 1
    AUX_IRQ = 12

    def __init__(self, reset: Callable[[], None],
                 set_irq: Callable[[int, int], None] | None = None) -> None:
        self._reset = reset
        self._set_irq = set_irq
        #: Bytes for the guest, each with whether it came from the AUX port.
        self._replies: deque[tuple[int, bool]] = deque(maxlen=REPLY_LIMIT)
        self._config = 0x45  # keyboard interrupt, system flag, translation
        self._output_port = OUTPUT_PORT_RESET_BIT | OUTPUT_PORT_A20
        self._pending_write: int | None = None
        self._last_was_command = False
        self._irq_line: int | None = None  # the line raised for the byte on offer

    def io_read(self, offset: int, size: int) -> int:
        """Status on 0x64, the next reply byte on 0x60; other ports read all ones."""
        if offset == COMMAND:
            status = STATUS_SYSTEM_FLAG | STATUS_NOT_INHIBITED
            if self._replies:
                status |= STATUS_OUTPUT_FULL
                if self._replies[0][1]:
                    status |= STATUS_AUX_DATA
            if self._last_was_command:
                status |= STATUS_COMMAND
            return status
        if offset == DATA:
            value = self._replies.popleft()[0] if self._replies else 0
            self._update_irq()
            return value
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

    def _reply(self, value: int, aux: bool = False) -> None:
        self._replies.append((value, aux))
        self._update_irq()

    def _update_irq(self) -> None:
        """Raise the line of the byte on offer if the CTR enables it; lower the last."""
        wanted = None
        if self._replies:
            aux = self._replies[0][1]
            enabled = self._config & (CTR_AUX_INTERRUPT if aux else CTR_KBD_INTERRUPT)
            wanted = (self.AUX_IRQ if aux else self.KBD_IRQ) if enabled else None
        if wanted == self._irq_line or self._set_irq is None:
            return
        if self._irq_line is not None:
            self._set_irq(self._irq_line, 0)
        if wanted is not None:
            self._set_irq(wanted, 1)
        self._irq_line = wanted

    def _command(self, command: int) -> None:
        if command == CMD_PULSE_RESET:
            self._reset()
        elif command == CMD_READ_CONFIG:
            self._reply(self._config)
        elif command in COMMANDS_WITH_PARAMETER:
            self._pending_write = command
        elif command in CTR_TOGGLES:
            bit, disable = CTR_TOGGLES[command]
            self._config = self._config | bit if disable else self._config & ~bit
        elif command == CMD_SELF_TEST:
            self._reply(SELF_TEST_PASSED)
        elif command in (CMD_KBD_INTERFACE_TEST, CMD_AUX_INTERFACE_TEST):
            self._reply(INTERFACE_TEST_PASSED)
        elif command == CMD_READ_OUTPUT_PORT:
            self._reply(self._output_port)

    def _data(self, value: int) -> None:
        pending, self._pending_write = self._pending_write, None
        if pending == CMD_WRITE_CONFIG:
            self._config = value
            self._update_irq()
        elif pending == CMD_WRITE_OUTPUT_PORT:
            self._output_port = value
            if not value & OUTPUT_PORT_RESET_BIT:
                self._reset()
        elif pending in (CMD_KBD_LOOPBACK, CMD_AUX_LOOPBACK):
            self._reply(value, aux=pending == CMD_AUX_LOOPBACK)
