"""Decoded KVM exits.

``VcpuFd.run()`` returns one of these. Port I/O and MMIO exits are the hot path:
their objects are allocated once per vCPU and refreshed in place, and their ``data``
is a view into the shared ``kvm_run`` area, so handling an exit allocates little.
The core decodes the exits every architecture has; an arch plugin decodes its own
(riscv's SBI calls) through ``vmm_decode_exit``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import ioctls as k
from .cdefs import ffi

_MMIO_DATA = ffi.offsetof("struct kvm_run", "mmio") + ffi.offsetof("struct kvm_run_mmio", "data")


class Exit:
    """An exit with nothing more to say than its reason.

    Exits are slotted classes rather than dataclasses: a dataclass generates and
    execs its methods when the module is imported (~0.3 ms each, eight of them on
    every start-up), and slots make the in-place refresh of the hot-path exits
    cheaper. :meth:`__repr__` and :meth:`__eq__` work over every class's fields as
    a dataclass's would.
    """

    __slots__ = ("reason",)

    def __init__(self, reason: int) -> None:
        self.reason = reason

    def field_names(self) -> tuple[str, ...]:
        """The field names, the base class's first (slots of each class in the MRO)."""
        return tuple(name for cls in reversed(type(self).__mro__)
                     for name in cls.__dict__.get("__slots__", ()))

    def __repr__(self) -> str:
        values = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.field_names())
        return f"{type(self).__qualname__}({values})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.field_names())

    __hash__ = None  # type: ignore[assignment]  # mutable, like a dataclass with eq


class IoExit(Exit):
    """KVM_EXIT_IO: port I/O. ``data`` holds ``size * count`` bytes (in or out)."""

    __slots__ = ("port", "size", "count", "is_write", "data")

    def __init__(self, reason: int, port: int = 0, size: int = 0, count: int = 0,
                 is_write: bool = False, data: memoryview | None = None) -> None:
        self.reason, self.port, self.size, self.count = reason, port, size, count
        self.is_write, self.data = is_write, data


class MmioExit(Exit):
    """KVM_EXIT_MMIO: a load or store the kernel could not handle."""

    __slots__ = ("addr", "size", "is_write", "data")

    def __init__(self, reason: int, addr: int = 0, size: int = 0, is_write: bool = False,
                 data: memoryview | None = None) -> None:
        self.reason, self.addr, self.size, self.is_write, self.data = (
            reason, addr, size, is_write, data)


class SystemEventExit(Exit):
    """KVM_EXIT_SYSTEM_EVENT: shutdown, reset or crash requested by the guest."""

    __slots__ = ("type", "data")

    def __init__(self, reason: int, type: int = 0, data: list[int] | None = None) -> None:
        self.reason, self.type, self.data = reason, type, [] if data is None else data


class InternalErrorExit(Exit):
    """KVM_EXIT_INTERNAL_ERROR (for example an emulation failure)."""

    __slots__ = ("suberror", "data")

    def __init__(self, reason: int, suberror: int = 0, data: list[int] | None = None) -> None:
        self.reason, self.suberror, self.data = reason, suberror, [] if data is None else data


class MemoryFaultExit(Exit):
    """KVM_EXIT_MEMORY_FAULT: the guest touched memory whose private/shared attribute
    differs from the access (it asks for a conversion); KVM_RUN returned EFAULT."""

    __slots__ = ("flags", "gpa", "size")

    def __init__(self, reason: int, flags: int = 0, gpa: int = 0, size: int = 0) -> None:
        self.reason, self.flags, self.gpa, self.size = reason, flags, gpa, size

    @property
    def private(self) -> bool:
        """Whether the guest wants the range private (else shared)."""
        return bool(self.flags & k.KVM_MEMORY_EXIT_FLAG_PRIVATE)


class FailEntryExit(Exit):
    """KVM_EXIT_FAIL_ENTRY."""

    __slots__ = ("hardware_reason",)

    def __init__(self, reason: int, hardware_reason: int = 0) -> None:
        self.reason, self.hardware_reason = reason, hardware_reason


_EXIT_IO = k.KVM_EXIT_IO
_EXIT_MMIO = k.KVM_EXIT_MMIO
_EXIT_IO_OUT = k.KVM_EXIT_IO_OUT


class ExitDecoder:
    """Turns the ``kvm_run`` area into Exit values after each KVM_RUN.

    The hot path allocates nothing for a repeated exit: the ``io``/``mmio`` members
    are cdata views into the area taken once, and the data view of the last exit
    is reused while the next one covers the same bytes.
    """

    def __init__(self, run: Any, area: memoryview) -> None:
        #: Decodes the arch's own exits: ``(reason, run) -> Exit | None`` (the core's
        #: vCPU sets it to the ``vmm_decode_exit`` hook when a plugin implements it).
        self.arch_decoder: Callable[[int, Any], Exit | None] | None = None
        self._run = run
        self._run_io = run.io
        self._run_mmio = run.mmio
        self._area = area
        self._io = IoExit(k.KVM_EXIT_IO)
        self._mmio = MmioExit(k.KVM_EXIT_MMIO)
        self._io_offset = self._io_length = -1

    def release(self) -> None:
        """Drop every view into the area so the mapping can be closed."""
        self._io.data = None
        self._mmio.data = None
        self._io_offset = self._io_length = -1
        self._run_io = self._run_mmio = None
        self._area = None  # type: ignore[assignment]

    def decode(self) -> Exit:
        reason = self._run.exit_reason
        if reason == _EXIT_IO:
            io = self._run_io
            exit_ = self._io
            exit_.port = io.port
            exit_.size = size = io.size
            exit_.count = count = io.count
            exit_.is_write = io.direction == _EXIT_IO_OUT
            offset = io.data_offset
            length = size * count
            if offset != self._io_offset or length != self._io_length:
                exit_.data = self._area[offset : offset + length]
                self._io_offset = offset
                self._io_length = length
            return exit_
        if reason == _EXIT_MMIO:
            mmio = self._run_mmio
            exit_m = self._mmio
            exit_m.addr = mmio.phys_addr
            exit_m.is_write = bool(mmio.is_write)
            length = mmio.len
            if length != exit_m.size or exit_m.data is None:
                exit_m.data = self._area[_MMIO_DATA : _MMIO_DATA + length]
            exit_m.size = length
            return exit_m
        return self._decode_rare(reason)

    def _decode_rare(self, reason: int) -> Exit:
        run = self._run
        if reason == k.KVM_EXIT_SYSTEM_EVENT:
            event = run.system_event
            return SystemEventExit(reason, event.type, list(event.data)[: event.ndata])
        if reason == k.KVM_EXIT_INTERNAL_ERROR:
            internal = run.internal
            return InternalErrorExit(reason, internal.suberror, list(internal.data)[: internal.ndata])
        if reason == k.KVM_EXIT_MEMORY_FAULT:
            fault = run.memory_fault
            return MemoryFaultExit(reason, fault.flags, fault.gpa, fault.size)
        if reason == k.KVM_EXIT_FAIL_ENTRY:
            return FailEntryExit(reason, run.fail_entry.hardware_entry_failure_reason)
        if self.arch_decoder is not None:
            decoded = self.arch_decoder(reason, run)
            if decoded is not None:
                return decoded
        return Exit(reason)
