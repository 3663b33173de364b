"""Decoding ioctl request numbers and the raw bytes behind argument pointers.

The field widths follow include/uapi/asm-generic/ioctl.h; they are restated here on
purpose, independently of ``vmm.core.kvm.ioc``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from ..kvm.cdefs import ffi

KVMIO_TYPE = 0xAE
DIR_NONE, DIR_WRITE, DIR_READ = 0, 1, 2


@dataclass(frozen=True)
class Request:
    """A request number split into the kernel's four fields."""

    number: int
    direction: int
    type: int
    nr: int
    size: int

    @classmethod
    def decode(cls, number: int) -> Request:
        return cls(
            number=number,
            nr=number & 0xFF,
            type=(number >> 8) & 0xFF,
            size=(number >> 16) & 0x3FFF,
            direction=(number >> 30) & 0x3,
        )


@dataclass(frozen=True)
class IoctlShape:
    """What the model expects of one ioctl: name, direction and argument format."""

    name: str
    direction: int
    fmt: str | None = None  # struct format of the argument; None for _IO

    @property
    def size(self) -> int:
        return struct.calcsize(self.fmt) if self.fmt else 0

    def matches(self, request: Request) -> bool:
        return (
            request.type == KVMIO_TYPE
            and request.direction == self.direction
            and request.size == self.size
        )


def io(name: str) -> IoctlShape:
    return IoctlShape(name, DIR_NONE)


def ior(name: str, fmt: str) -> IoctlShape:
    return IoctlShape(name, DIR_READ, fmt)


def iow(name: str, fmt: str) -> IoctlShape:
    return IoctlShape(name, DIR_WRITE, fmt)


def iowr(name: str, fmt: str) -> IoctlShape:
    return IoctlShape(name, DIR_READ | DIR_WRITE, fmt)


class UserMemory:
    """Reads and writes this process's memory at addresses passed in arguments.

    The model stands in for the kernel's copy_from_user/copy_to_user: a zero address
    is EFAULT, as in the kernel.
    """

    @staticmethod
    def read(address: int, size: int) -> bytes:
        if address == 0:
            raise OSError(14, "Bad address")  # EFAULT
        return bytes(ffi.buffer(ffi.cast("char *", address), size))

    @staticmethod
    def write(address: int, data: bytes) -> None:
        if address == 0:
            raise OSError(14, "Bad address")
        ffi.buffer(ffi.cast("char *", address), len(data))[:] = data

    @classmethod
    def unpack(cls, fmt: str, address: int) -> tuple[Any, ...]:
        return struct.unpack(fmt, cls.read(address, struct.calcsize(fmt)))
