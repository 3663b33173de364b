"""The architecture-neutral 8250/16550A UART (vmm.core.devices.uart8250)."""

from __future__ import annotations

import threading
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vmm.core.devices import uart8250 as u
from vmm.core.devices.uart8250 import Uart8250


class Wires:
    """What the UART drove: transmitted bytes and interrupt-line changes."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.irq: list[int] = []

    def output(self, data: bytes) -> None:
        self.out += data

    def set_irq(self, level: int) -> None:
        self.irq.append(level)

    @property
    def level(self) -> int:
        return self.irq[-1] if self.irq else 0


@pytest.fixture
def wires() -> Wires:
    return Wires()


@pytest.fixture
def uart(wires: Wires) -> Uart8250:
    return Uart8250(wires.output, wires.set_irq)


def test_transmit_goes_to_output_and_line_is_always_empty(uart, wires):
    for byte in b"hi\n":
        uart.io_write(u.RBR_THR, 1, byte)
    assert bytes(wires.out) == b"hi\n"
    lsr = uart.io_read(u.LSR, 1)
    assert lsr & u.LSR_THRE and lsr & u.LSR_TEMT
    assert not lsr & u.LSR_DR
    assert wires.irq == []  # no interrupt enabled, none raised


def test_only_the_low_byte_is_transmitted(uart, wires):
    uart.io_write(u.RBR_THR, 4, 0x12345641)
    assert bytes(wires.out) == b"A"


def test_received_bytes_are_read_in_order_with_data_ready(uart):
    uart.feed_input(b"ab")
    assert uart.pending_input == 2
    assert uart.io_read(u.LSR, 1) & u.LSR_DR
    assert uart.io_read(u.RBR_THR, 1) == ord("a")
    assert uart.io_read(u.RBR_THR, 1) == ord("b")
    assert not uart.io_read(u.LSR, 1) & u.LSR_DR
    assert uart.io_read(u.RBR_THR, 1) == 0  # empty FIFO reads zero


def test_receive_interrupt_rises_and_falls(uart, wires):
    uart.io_write(u.IER, 1, u.IER_RDI)
    assert wires.irq == []
    uart.feed_input(b"x")
    assert wires.irq == [1]
    assert uart.io_read(u.IIR_FCR, 1) & 0x0F == u.IIR_RDI
    uart.io_read(u.RBR_THR, 1)
    assert wires.irq == [1, 0]
    assert uart.io_read(u.IIR_FCR, 1) & 0x0F == u.IIR_NO_INT


def test_thre_interrupt_on_enable_and_after_each_write(uart, wires):
    uart.io_write(u.IER, 1, u.IER_THRI)
    assert wires.level == 1  # transmitter already empty
    assert uart.io_read(u.IIR_FCR, 1) & 0x0F == u.IIR_THRI
    assert wires.level == 0  # reading IIR acknowledged it
    uart.io_write(u.RBR_THR, 1, ord("z"))
    assert wires.level == 1
    uart.io_write(u.IER, 1, 0)
    assert wires.level == 0
    assert uart.io_read(u.IIR_FCR, 1) & 0x0F == u.IIR_NO_INT


def test_receive_has_priority_over_transmit(uart):
    uart.io_write(u.IER, 1, u.IER_RDI | u.IER_THRI)
    uart.feed_input(b"q")
    assert uart.io_read(u.IIR_FCR, 1) & 0x0F == u.IIR_RDI


def test_irq_is_signalled_only_on_level_changes(uart, wires):
    uart.io_write(u.IER, 1, u.IER_RDI)
    uart.feed_input(b"1")
    uart.feed_input(b"2")
    uart.feed_input(b"3")
    assert wires.irq == [1]


def test_divisor_latch_hides_data_and_ier(uart, wires):
    uart.io_write(u.LCR, 1, u.LCR_DLAB | 0x03)
    uart.io_write(u.RBR_THR, 1, 0x01)
    uart.io_write(u.IER, 1, 0x00)
    assert uart.io_read(u.RBR_THR, 1) == 0x01
    assert uart.io_read(u.IER, 1) == 0x00
    uart.io_write(u.LCR, 1, 0x03)
    assert bytes(wires.out) == b""  # the DLL write transmitted nothing
    assert uart.io_read(u.LCR, 1) == 0x03
    assert uart.io_read(u.IER, 1) == 0


def test_fifo_control_shows_in_iir_and_clears_receiver(uart):
    assert uart.io_read(u.IIR_FCR, 1) == u.IIR_NO_INT
    uart.io_write(u.IIR_FCR, 1, u.FCR_ENABLE_FIFO)
    assert uart.io_read(u.IIR_FCR, 1) == u.IIR_FIFO_ENABLED | u.IIR_NO_INT
    uart.feed_input(b"junk")
    uart.io_write(u.IIR_FCR, 1, u.FCR_ENABLE_FIFO | u.FCR_CLEAR_RCVR)
    assert uart.pending_input == 0


def test_scratch_register_keeps_its_value(uart):
    uart.io_write(u.SCR, 1, 0xA5)
    assert uart.io_read(u.SCR, 1) == 0xA5


def test_loopback_echoes_and_mirrors_modem_lines(uart, wires):
    uart.io_write(u.MCR, 1, u.MCR_LOOP | u.MCR_OUT2 | u.MCR_RTS)
    uart.io_write(u.RBR_THR, 1, ord("L"))
    assert bytes(wires.out) == b""
    assert uart.io_read(u.RBR_THR, 1) == ord("L")
    msr = uart.io_read(u.MSR, 1)
    assert msr & 0xF0 == u.MSR_DCD | u.MSR_CTS
    uart.io_write(u.MCR, 1, u.MCR_LOOP)
    assert uart.io_read(u.MSR, 1) & 0xF0 == 0


def test_modem_status_interrupt_on_line_change(uart, wires):
    uart.io_write(u.MCR, 1, u.MCR_LOOP)
    uart.io_read(u.MSR, 1)  # clear deltas
    uart.io_write(u.IER, 1, u.IER_MSI)
    uart.io_write(u.MCR, 1, u.MCR_LOOP | u.MCR_DTR)
    assert wires.level == 1
    assert uart.io_read(u.IIR_FCR, 1) & 0x0F == u.IIR_MSI
    assert uart.io_read(u.MSR, 1) & u.MSR_DDSR
    assert wires.level == 0


def test_not_in_loopback_carrier_and_clear_to_send_are_up(uart):
    assert uart.io_read(u.MSR, 1) & 0xF0 == u.MSR_DCD | u.MSR_DSR | u.MSR_CTS


def test_overrun_sets_lsr_error_and_line_status_interrupt(uart, wires):
    uart.io_write(u.IER, 1, u.IER_RLSI)
    uart.feed_input(b"x" * (u.INPUT_LIMIT + 10))
    assert uart.pending_input == u.INPUT_LIMIT
    assert uart.io_read(u.IIR_FCR, 1) & 0x0F == u.IIR_RLSI
    assert uart.io_read(u.LSR, 1) & u.LSR_OE
    assert not uart.io_read(u.LSR, 1) & u.LSR_OE  # cleared by reading
    assert wires.level == 0


def test_feed_input_from_another_thread(uart):
    threads = [threading.Thread(target=uart.feed_input, args=(b"ab" * 100,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    received = bytes(uart.io_read(u.RBR_THR, 1) for _ in range(800))
    assert received == b"ab" * 400


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 7), st.integers(0, 0xFFFFFFFF)), max_size=60),
       st.binary(max_size=40))
def test_any_access_sequence_keeps_registers_bytes_and_irq_consistent(ops, data):
    wires = Wires()
    uart = Uart8250(wires.output, wires.set_irq)
    uart.feed_input(data)
    for is_write, offset, value in ops:
        if is_write:
            uart.io_write(offset, 1, value)
        else:
            assert 0 <= uart.io_read(offset, 1) <= 0xFF
    # the line only ever toggles, and it is high exactly when IIR reports a source
    assert all(a != b for a, b in pairwise([0] + wires.irq))
    iir = uart._interrupt_id()  # peek without acknowledging
    assert wires.level == (0 if iir == u.IIR_NO_INT else 1)
