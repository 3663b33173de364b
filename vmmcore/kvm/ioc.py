"""The kernel's _IOC ioctl encoding (asm-generic/ioctl.h), used by x86, arm64, riscv.

Request numbers are computed from the argument's ``ffi.sizeof``; no number is typed
by hand.
"""

from __future__ import annotations

from typing import NamedTuple

from .ffiload import Ffi

KVMIO = 0xAE

IOC_NRBITS = 8
IOC_TYPEBITS = 8
IOC_SIZEBITS = 14
IOC_NRSHIFT = 0
IOC_TYPESHIFT = IOC_NRSHIFT + IOC_NRBITS
IOC_SIZESHIFT = IOC_TYPESHIFT + IOC_TYPEBITS
IOC_DIRSHIFT = IOC_SIZESHIFT + IOC_SIZEBITS

IOC_NONE = 0
IOC_WRITE = 1
IOC_READ = 2


def ioc(direction: int, type_: int, nr: int, size: int) -> int:
    """Encode an ioctl request number as the kernel's ``_IOC`` macro does."""
    if size >= 1 << IOC_SIZEBITS:
        raise ValueError(f"ioctl argument of {size} bytes does not fit the encoding")
    return (
        (direction << IOC_DIRSHIFT)
        | (size << IOC_SIZESHIFT)
        | (type_ << IOC_TYPESHIFT)
        | (nr << IOC_NRSHIFT)
    )


# A NamedTuple, not a frozen dataclass: nothing is generated and exec'd at import
# (a frozen dataclass costs ~0.4 ms of every start-up).
class Ioctl(NamedTuple):
    """One KVM ioctl: its name (for errors), request number and argument type."""

    name: str
    number: int
    ctype: str | None = None


class IoctlTable:
    """Declares ioctls against one FFI, computing sizes from its cdef text."""

    def __init__(self, ffi: Ffi, type_: int = KVMIO) -> None:
        self._ffi = ffi
        self._type = type_

    def _make(self, name: str, direction: int, nr: int, ctype: str | None) -> Ioctl:
        size = self._ffi.sizeof(ctype) if ctype else 0
        return Ioctl(name, ioc(direction, self._type, nr, size), ctype)

    def io(self, name: str, nr: int) -> Ioctl:
        """``_IO(KVMIO, nr)``: no argument struct (an integer argument at most)."""
        return self._make(name, IOC_NONE, nr, None)

    def ior(self, name: str, nr: int, ctype: str) -> Ioctl:
        """``_IOR(KVMIO, nr, ctype)``: the kernel writes the struct."""
        return self._make(name, IOC_READ, nr, ctype)

    def iow(self, name: str, nr: int, ctype: str) -> Ioctl:
        """``_IOW(KVMIO, nr, ctype)``: the kernel reads the struct."""
        return self._make(name, IOC_WRITE, nr, ctype)

    def iowr(self, name: str, nr: int, ctype: str) -> Ioctl:
        """``_IOWR(KVMIO, nr, ctype)``: read and written."""
        return self._make(name, IOC_READ | IOC_WRITE, nr, ctype)
