"""The CMOS real-time clock at ports 0x70-0x71: the device alone with an injected
clock, then wired into a model-backed x86 VM."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vmm.plugins.x86 import rtc as r
from vmm.plugins.x86.rtc import Rtc

INDEX, DATA = 0, 1
#: A Sunday afternoon: 2024-02-25 13:05:09 UTC.
SUNDAY = datetime(2024, 2, 25, 13, 5, 9, tzinfo=UTC)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(SUNDAY)


@pytest.fixture
def rtc(clock) -> Rtc:
    return Rtc(clock)


def read(device: Rtc, register: int) -> int:
    device.io_write(INDEX, 1, register)
    return device.io_read(DATA, 1)


def write(device: Rtc, register: int, value: int) -> None:
    device.io_write(INDEX, 1, register)
    device.io_write(DATA, 1, value)


def time_registers(device: Rtc) -> list[int]:
    """Seconds, minutes, hours, weekday, day, month, year, century."""
    return [read(device, reg) for reg in (0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32)]


def test_power_on_time_is_bcd_and_24_hour(rtc):
    assert read(rtc, 0x0B) == 0x02
    assert time_registers(rtc) == [0x09, 0x05, 0x13, 0x01, 0x25, 0x02, 0x24, 0x20]


def test_binary_mode(rtc):
    write(rtc, 0x0B, 0x06)  # DM binary, 24-hour
    assert time_registers(rtc) == [9, 5, 13, 1, 25, 2, 24, 20]


@pytest.mark.parametrize("hour, bcd, binary", [
    (0, 0x12, 12),  # midnight is 12 AM
    (9, 0x09, 9),
    (12, 0x80 | 0x12, 0x80 | 12),  # noon is 12 PM
    (13, 0x80 | 0x01, 0x80 | 1),
    (23, 0x80 | 0x11, 0x80 | 11),
])
def test_12_hour_mode_sets_bit_7_after_noon(rtc, clock, hour, bcd, binary):
    clock.now = SUNDAY.replace(hour=hour)
    write(rtc, 0x0B, 0x00)  # BCD, 12-hour
    assert read(rtc, 0x04) == bcd
    write(rtc, 0x0B, 0x04)  # binary, 12-hour
    assert read(rtc, 0x04) == binary
    write(rtc, 0x0B, 0x06)  # binary, 24-hour
    assert read(rtc, 0x04) == hour


@pytest.mark.parametrize("days, weekday", [(0, 1), (1, 2), (5, 6), (6, 7)])
def test_day_of_week_counts_from_sunday_as_1(rtc, clock, days, weekday):
    clock.now = SUNDAY + timedelta(days=days)
    assert read(rtc, 0x06) == weekday


def test_every_read_takes_the_clock_at_that_moment(rtc, clock):
    assert read(rtc, 0x00) == 0x09
    clock.now = datetime(1999, 12, 31, 23, 59, 58, tzinfo=UTC)
    assert time_registers(rtc) == [0x58, 0x59, 0x23, 0x06, 0x31, 0x12, 0x99, 0x19]
    clock.now += timedelta(seconds=2)
    assert time_registers(rtc) == [0x00, 0x00, 0x00, 0x07, 0x01, 0x01, 0x00, 0x20]


def test_the_default_clock_is_the_hosts_utc_time():
    device = Rtc()
    write(device, 0x0B, 0x06)  # binary, 24-hour
    before = datetime.now(UTC).replace(microsecond=0)
    seconds, minutes, hours = (read(device, reg) for reg in (0x00, 0x02, 0x04))
    after = datetime.now(UTC)
    read_time = before.replace(hour=hours, minute=minutes, second=seconds)
    if read_time < before:  # the read crossed midnight
        read_time += timedelta(days=1)
    assert before <= read_time <= after


def test_writes_to_time_registers_are_ignored(rtc):
    for register in (0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32):
        write(rtc, register, 0x42)
    assert time_registers(rtc) == [0x09, 0x05, 0x13, 0x01, 0x25, 0x02, 0x24, 0x20]


def test_register_a_never_shows_an_update_in_progress(rtc):
    assert read(rtc, 0x0A) == 0x26
    write(rtc, 0x0A, 0xFF)
    assert read(rtc, 0x0A) == 0x7F  # bits 0-6 stored, UIP still clear
    write(rtc, 0x0A, 0x20)
    assert read(rtc, 0x0A) == 0x20


def test_register_b_stores_every_bit(rtc):
    write(rtc, 0x0B, 0x82)  # SET: stored, the clock keeps running
    assert read(rtc, 0x0B) == 0x82
    assert read(rtc, 0x00) == 0x09


def test_register_c_has_no_interrupt_flags_and_d_reports_valid_time(rtc):
    for value in (0x00, 0xFF):
        write(rtc, 0x0C, value)
        write(rtc, 0x0D, value)
        assert read(rtc, 0x0C) == 0
        assert read(rtc, 0x0D) == 0x80


def test_alarms_and_the_rest_of_cmos_are_ram_zero_at_power_on(rtc):
    ram = [reg for reg in range(r.CMOS_SIZE) if reg not in r.TIME_FIELDS
           and reg not in (0x0A, 0x0B, 0x0C, 0x0D)]
    assert {0x01, 0x03, 0x05, 0x0E, 0x31, 0x33, 0x7F} <= set(ram)
    assert [read(rtc, reg) for reg in ram] == [0] * len(ram)
    for reg in ram:
        write(rtc, reg, reg ^ 0xA5)
    assert [read(rtc, reg) for reg in ram] == [reg ^ 0xA5 for reg in ram]


def test_nmi_bit_of_the_index_is_ignored(rtc):
    write(rtc, 0x80 | 0x0E, 0x5A)
    assert read(rtc, 0x0E) == 0x5A
    assert read(rtc, 0x80 | 0x0E) == 0x5A
    assert read(rtc, 0x80 | 0x0D) == 0x80


def test_index_stays_selected_without_auto_increment(rtc):
    rtc.io_write(INDEX, 1, 0x10)
    rtc.io_write(DATA, 1, 0x11)
    rtc.io_write(DATA, 1, 0x22)
    assert [rtc.io_read(DATA, 1) for _ in range(3)] == [0x22] * 3
    assert read(rtc, 0x11) == 0


def test_index_port_reads_all_ones(rtc):
    rtc.io_write(INDEX, 1, 0x0E)
    assert rtc.io_read(INDEX, 1) == 0xFF
    assert rtc.io_read(DATA, 1) == 0  # the selection survives the read


def test_wide_accesses_go_byte_by_byte(rtc):
    rtc.io_write(INDEX, 2, 0x77 << 8 | 0x8E)  # outw: index 0x0e (NMI bit), then data
    assert read(rtc, 0x0E) == 0x77
    assert rtc.io_read(INDEX, 2) == 0x77 << 8 | 0xFF
    rtc.io_write(DATA, 2, 0x1234)  # the second byte is past the device: dropped
    assert rtc.io_read(DATA, 2) == 0xFF << 8 | 0x34


def test_every_byte_on_every_register_is_accepted(rtc):
    for register in range(256):
        for value in range(256):
            write(rtc, register, value)
            assert 0 <= read(rtc, register) <= 0xFF


# ------------------------------------------------------------ in the x86 VM


@pytest.fixture
def x86(vmm_vm):
    return vmm_vm("x86", blocked=["virtio"], mem_mib=64).build()


def test_the_x86_vm_has_the_rtc_on_ports_0x70_0x71(x86):
    from vmm.plugins.x86.state import x86_state

    device = x86_state(x86.vm).devices["rtc"]
    assert x86.vm.pio.find(0x70) == (0x70, device)
    assert x86.vm.pio.find(0x71) == (0x70, device)
    assert x86.vm.pio.find(0x72) is None
    x86.pio_write(0x70, 0x8D)  # register D, NMI masked
    assert x86.pio_read(0x71) == 0x80
    x86.pio_write(0x70, 0x0A)
    assert x86.pio_read(0x71) & 0x80 == 0  # Linux's UIP poll ends at once
    assert x86.pio_read(0x70) == 0xFF


def test_the_rtc_leaves_the_bus_at_teardown(x86):
    x86.teardown()
    assert x86.vm.pio.find(0x70) is None
