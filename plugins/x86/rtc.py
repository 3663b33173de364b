"""The PC's CMOS real-time clock (MC146818) at ports 0x70 (index) and 0x71 (data).

Without it, Linux's rtc_cmos driver reads all ones from the unclaimed ports, sees
register A's update-in-progress bit always set, and spins in its UIP polling loops
(one port exit per poll) before giving up with "broken or not accessible".

What the guest sees, as the datasheet describes the chip:

- The time registers (seconds, minutes, hours, day of week with Sunday = 1, day of
  month, month, two-digit year, and the PC's century byte at 0x32) give the host's
  UTC time at the moment of each read, in BCD unless register B's DM bit selects
  binary, in 24-hour form unless register B's 24/12 bit is clear (then 1-12 with
  bit 7 set after noon). The guest can't set the clock: writes to these registers
  are ignored, as in kvmtool. Register B's SET bit is stored but stops nothing.
- Register A reads with UIP (bit 7) always clear: there is no update cycle, the time
  comes from the host clock. Its other bits are stored (0x26 after power-on).
- Register C reads 0 and register D reads 0x80 (valid RAM and time). No periodic,
  alarm or update-ended interrupt is ever raised, so IRQ 8 stays quiet; the alarm
  registers (0x01, 0x03, 0x05) are plain storage.
- Every other byte of the 128-byte CMOS is RAM, zero after power-on.
- Port 0x70 selects a register (bit 7, the PC's NMI mask, is ignored) and reads all
  ones (it is write-only); the selection stays until the next write (no
  auto-increment). Wider accesses are split into byte accesses, port by port.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

INDEX = 0  # offset of port 0x70 from the device's base
DATA = 1  # offset of port 0x71

CMOS_SIZE = 128
INDEX_MASK = CMOS_SIZE - 1  # bit 7 of an index write is the NMI mask

SECONDS = 0x00
MINUTES = 0x02
HOURS = 0x04
DAY_OF_WEEK = 0x06
DAY_OF_MONTH = 0x07
MONTH = 0x08
YEAR = 0x09
REG_A = 0x0A
REG_B = 0x0B
REG_C = 0x0C
REG_D = 0x0D
CENTURY = 0x32  # the PC convention (ACPI FADT "century" points here)

REG_A_UIP = 0x80  # update in progress
REG_A_POWER_ON = 0x26  # 32.768 kHz time base, 1024 Hz periodic rate
REG_B_BINARY = 0x04  # DM: binary instead of BCD
REG_B_24_HOUR = 0x02
REG_B_POWER_ON = REG_B_24_HOUR  # BCD, 24-hour
REG_D_VRT = 0x80  # valid RAM and time
HOUR_PM = 0x80  # 12-hour mode: after noon

#: How each time register is read off the clock (hours before 12-hour conversion).
#: Writes to these registers are ignored.
TIME_FIELDS: dict[int, Callable[[datetime], int]] = {
    SECONDS: lambda now: now.second,
    MINUTES: lambda now: now.minute,
    HOURS: lambda now: now.hour,
    DAY_OF_WEEK: lambda now: now.isoweekday() % 7 + 1,  # Sunday = 1 .. Saturday = 7
    DAY_OF_MONTH: lambda now: now.day,
    MONTH: lambda now: now.month,
    YEAR: lambda now: now.year % 100,
    CENTURY: lambda now: now.year // 100 % 100,
}


def utc_now() -> datetime:
    """The host's current time in UTC: the clock an :class:`Rtc` reads by default.

    ``datetime`` is imported on the guest's first read, not on every run's start-up
    (~1.5 ms).
    """
    from datetime import datetime

    return datetime.now(UTC)


def to_bcd(value: int) -> int:
    """Two decimal digits ``0..99`` as packed BCD (45 -> 0x45)."""
    return (value // 10) << 4 | value % 10


class Rtc:
    """Ports 0x70-0x71; ``clock()`` returns the time the guest reads (UTC)."""

    #: Ports 0x70..0x71 inclusive.
    SIZE = 2

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock
        self._index = 0
        self._ram = bytearray(CMOS_SIZE)
        self._ram[REG_A] = REG_A_POWER_ON
        self._ram[REG_B] = REG_B_POWER_ON

    def io_read(self, offset: int, size: int) -> int:
        """The selected register on 0x71, all ones on 0x70; little-endian when wider."""
        if size == 1:
            return self._read_port(offset)
        return sum(self._read_port(offset + i) << (8 * i) for i in range(size))

    def io_write(self, offset: int, size: int, value: int) -> None:
        """Select a register on 0x70, write it on 0x71; byte by byte when wider."""
        for i in range(size):
            self._write_port(offset + i, value >> (8 * i) & 0xFF)

    def _read_port(self, offset: int) -> int:
        return self._read_register(self._index) if offset == DATA else 0xFF

    def _write_port(self, offset: int, value: int) -> None:
        if offset == INDEX:
            self._index = value & INDEX_MASK
        elif offset == DATA:
            self._write_register(self._index, value)

    def _read_register(self, register: int) -> int:
        if register in TIME_FIELDS:
            return self._time_register(register)
        if register == REG_A:
            return self._ram[REG_A] & ~REG_A_UIP
        if register == REG_C:
            return 0
        if register == REG_D:
            return REG_D_VRT
        return self._ram[register]

    def _write_register(self, register: int, value: int) -> None:
        if register in TIME_FIELDS or register in (REG_C, REG_D):
            return  # the host's clock can't be set; C and D are read-only
        if register == REG_A:
            value &= ~REG_A_UIP
        self._ram[register] = value

    def _time_register(self, register: int) -> int:
        """Read ``register`` off the clock now, in register B's format."""
        value = TIME_FIELDS[register](self._clock())
        mode = self._ram[REG_B]
        pm = 0
        if register == HOURS and not mode & REG_B_24_HOUR:
            pm = HOUR_PM if value >= 12 else 0
            value = (value + 11) % 12 + 1  # 0 -> 12 (midnight), 13 -> 1
        return (value if mode & REG_B_BINARY else to_bcd(value)) | pm
