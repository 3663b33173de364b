"""An 8250/16550A UART: the serial console every architecture's guest knows.

Eight one-byte registers at offsets 0..7, as the PC's COM1 at 0x3f8 and the
ns16550a of device-tree machines. Transmission is instantaneous (every byte goes to
``output`` at once, so the transmitter is always empty); received bytes wait in a
FIFO fed by :meth:`Uart8250.feed_input` from another thread. The interrupt line is
driven through ``set_irq(level)`` only when its level changes, so a busy console
costs no interrupt ioctl per byte.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

# Register offsets.
RBR_THR = 0  # receive buffer (read) / transmit holding (write); DLL with DLAB
IER = 1  # interrupt enable; DLM with DLAB
IIR_FCR = 2  # interrupt identification (read) / FIFO control (write)
LCR = 3  # line control
MCR = 4  # modem control
LSR = 5  # line status
MSR = 6  # modem status
SCR = 7  # scratch
REGISTER_COUNT = 8

# IER bits.
IER_RDI = 0x01  # received data available
IER_THRI = 0x02  # transmitter holding register empty
IER_RLSI = 0x04  # receiver line status
IER_MSI = 0x08  # modem status
IER_MASK = 0x0F

# IIR values (bit 0 set: nothing pending); bits 6-7 set when the FIFOs are on.
IIR_NO_INT = 0x01
IIR_MSI = 0x00
IIR_THRI = 0x02
IIR_RDI = 0x04
IIR_RLSI = 0x06
IIR_FIFO_ENABLED = 0xC0

# FCR bits.
FCR_ENABLE_FIFO = 0x01
FCR_CLEAR_RCVR = 0x02

# LCR bits.
LCR_DLAB = 0x80

# MCR bits.
MCR_DTR = 0x01
MCR_RTS = 0x02
MCR_OUT1 = 0x04
MCR_OUT2 = 0x08
MCR_LOOP = 0x10
MCR_MASK = 0x1F

# LSR bits.
LSR_DR = 0x01  # data ready
LSR_OE = 0x02  # overrun
LSR_THRE = 0x20  # transmit holding register empty
LSR_TEMT = 0x40  # transmitter empty

# MSR bits.
MSR_DCTS = 0x01
MSR_DDSR = 0x02
MSR_TERI = 0x04
MSR_DDCD = 0x08
MSR_CTS = 0x10
MSR_DSR = 0x20
MSR_RI = 0x40
MSR_DCD = 0x80
MSR_DELTAS = MSR_DCTS | MSR_DDSR | MSR_TERI | MSR_DDCD

#: Bytes kept waiting for the guest before new input is dropped (overrun).
INPUT_LIMIT = 64 * 1024


class Uart8250:
    """One 16550A-compatible UART with its interrupt line.

    :param output: called with each byte the guest transmits.
    :param set_irq: called with the new level (0 or 1) of the interrupt line.
    """

    def __init__(self, output: Callable[[bytes], None], set_irq: Callable[[int], None]) -> None:
        self._output = output
        self._set_irq = set_irq
        self._lock = threading.Lock()
        self._input: deque[int] = deque()
        self._ier = 0
        self._lcr = 0x03  # 8N1, as firmware leaves it
        self._mcr = MCR_OUT2
        self._lsr_errors = 0
        self._msr = MSR_DCD | MSR_DSR | MSR_CTS
        self._scr = 0
        self._dll = 0x0C  # 9600 baud
        self._dlm = 0
        self._fifo_enabled = False
        self._thri_pending = False
        self._irq_level = 0

    # ---------------------------------------------------------------- bus

    def io_read(self, offset: int, size: int) -> int:
        """Read register ``offset`` (0..7); wider accesses read the low byte's register."""
        with self._lock:
            value = self._read(offset)
            self._update_irq()
        return value

    def io_write(self, offset: int, size: int, value: int) -> None:
        """Write the low byte of ``value`` to register ``offset`` (0..7)."""
        with self._lock:
            transmitted = self._write(offset, value & 0xFF)
            self._update_irq()
        if transmitted is not None:
            self._output(transmitted)

    # ---------------------------------------------------------------- input

    def feed_input(self, data: bytes) -> None:
        """Queue bytes typed at the host for the guest to receive (any thread)."""
        if not data:
            return
        with self._lock:
            room = INPUT_LIMIT - len(self._input)
            if len(data) > room:
                self._lsr_errors |= LSR_OE
                data = data[: max(room, 0)]
            self._input.extend(data)
            self._update_irq()

    @property
    def pending_input(self) -> int:
        """How many received bytes the guest has not read yet."""
        return len(self._input)

    # ---------------------------------------------------------------- registers

    def _read(self, offset: int) -> int:
        dlab = self._lcr & LCR_DLAB
        if offset == RBR_THR:
            if dlab:
                return self._dll
            return self._input.popleft() if self._input else 0
        if offset == IER:
            return self._dlm if dlab else self._ier
        if offset == IIR_FCR:
            iir = self._interrupt_id()
            if iir == IIR_THRI:
                self._thri_pending = False  # reading IIR acknowledges THRE
            return iir | (IIR_FIFO_ENABLED if self._fifo_enabled else 0)
        if offset == LCR:
            return self._lcr
        if offset == MCR:
            return self._mcr
        if offset == LSR:
            value = self._line_status()
            self._lsr_errors = 0
            return value
        if offset == MSR:
            value = self._modem_status()
            self._msr &= ~MSR_DELTAS
            return value
        if offset == SCR:
            return self._scr
        return 0xFF

    def _write(self, offset: int, value: int) -> bytes | None:
        """Apply a register write; return the byte to transmit, if any."""
        dlab = self._lcr & LCR_DLAB
        if offset == RBR_THR:
            if dlab:
                self._dll = value
                return None
            self._thri_pending = bool(self._ier & IER_THRI)
            if self._mcr & MCR_LOOP:
                if len(self._input) < INPUT_LIMIT:
                    self._input.append(value)
                return None
            return bytes((value,))
        if offset == IER:
            if dlab:
                self._dlm = value
            else:
                enabling_thri = value & IER_THRI and not self._ier & IER_THRI
                self._ier = value & IER_MASK
                if enabling_thri:
                    self._thri_pending = True  # the transmitter is empty already
                elif not self._ier & IER_THRI:
                    self._thri_pending = False
        elif offset == IIR_FCR:
            self._fifo_enabled = bool(value & FCR_ENABLE_FIFO)
            if value & FCR_CLEAR_RCVR:
                self._input.clear()
        elif offset == LCR:
            self._lcr = value
        elif offset == MCR:
            self._set_mcr(value & MCR_MASK)
        elif offset == SCR:
            self._scr = value
        return None  # LSR and MSR are read-only

    def _set_mcr(self, value: int) -> None:
        old = self._modem_status() & ~MSR_DELTAS
        self._mcr = value
        new = self._modem_status() & ~MSR_DELTAS
        changed = old ^ new
        deltas = 0
        if changed & MSR_CTS:
            deltas |= MSR_DCTS
        if changed & MSR_DSR:
            deltas |= MSR_DDSR
        if changed & MSR_DCD:
            deltas |= MSR_DDCD
        if old & MSR_RI and not new & MSR_RI:
            deltas |= MSR_TERI
        self._msr |= deltas

    def _modem_status(self) -> int:
        deltas = self._msr & MSR_DELTAS
        if self._mcr & MCR_LOOP:  # outputs wired back to inputs
            mcr = self._mcr
            lines = (
                (MSR_CTS if mcr & MCR_RTS else 0)
                | (MSR_DSR if mcr & MCR_DTR else 0)
                | (MSR_RI if mcr & MCR_OUT1 else 0)
                | (MSR_DCD if mcr & MCR_OUT2 else 0)
            )
            return lines | deltas
        return (self._msr & ~MSR_DELTAS) | deltas

    def _line_status(self) -> int:
        status = LSR_THRE | LSR_TEMT | self._lsr_errors
        if self._input:
            status |= LSR_DR
        return status

    # ---------------------------------------------------------------- interrupts

    def _interrupt_id(self) -> int:
        ier = self._ier
        if ier & IER_RLSI and self._lsr_errors:
            return IIR_RLSI
        if ier & IER_RDI and self._input:
            return IIR_RDI
        if ier & IER_THRI and self._thri_pending:
            return IIR_THRI
        if ier & IER_MSI and self._msr & MSR_DELTAS:
            return IIR_MSI
        return IIR_NO_INT

    def _update_irq(self) -> None:
        level = 0 if self._interrupt_id() == IIR_NO_INT else 1
        if level != self._irq_level:
            self._irq_level = level
            self._set_irq(level)
