"""The two test-exit devices: a bus device is any object with ``io_read`` and
``io_write`` (``offset`` from the registered base, ``size`` in bytes, little-endian
values), called on the vCPU thread that made the access."""

from __future__ import annotations

from collections.abc import Callable

#: sifive_test's register values (its low 16 bits), as QEMU's hw/misc/sifive_test.
FINISHER_FAIL = 0x3333
FINISHER_PASS = 0x5555
FINISHER_RESET = 0x7777
#: The MMIO device's size: one 4 KiB page, as QEMU's virt machines give it.
MMIO_SIZE = 0x1000
#: The port device's size: 4 ports, as kvm-unit-tests configures isa-debug-exit.
PORT_SIZE = 4
EXIT_STATUS_MASK = 0xFF


class DebugExitPort:
    """QEMU's isa-debug-exit: a write of ``value`` ends the VM with ``(value << 1) | 1``
    (masked to 8 bits, what a process status keeps); reads give 0."""

    def __init__(self, request_stop: Callable[[int], None]) -> None:
        self._request_stop = request_stop

    def io_read(self, offset: int, size: int) -> int:
        return 0

    def io_write(self, offset: int, size: int, value: int) -> None:
        self._request_stop(((value << 1) | 1) & EXIT_STATUS_MASK)


class SifiveTest:
    """QEMU's sifive_test: a 32-bit write at offset 0 of PASS ends the VM with 0,
    ``FAIL | status << 16`` with ``status``; RESET ends it with 0 too (vmm has no
    reset; kvmtool also exits on a guest reboot). Anything else is ignored; reads
    give 0."""

    def __init__(self, request_stop: Callable[[int], None]) -> None:
        self._request_stop = request_stop

    def io_read(self, offset: int, size: int) -> int:
        return 0

    def io_write(self, offset: int, size: int, value: int) -> None:
        if offset != 0:
            return
        command = value & 0xFFFF
        if command in (FINISHER_PASS, FINISHER_RESET):
            self._request_stop(0)
        elif command == FINISHER_FAIL:
            self._request_stop((value >> 16) & EXIT_STATUS_MASK)
