"""The one ioctl seam every KVM call goes through, and how a backend is chosen.

A backend opens /dev/kvm (or its model), answers ``ioctl(fd, request, arg)`` with the
kernel's semantics (return value, or ``OSError`` carrying the kernel's errno), maps
a vCPU's ``kvm_run`` area and closes fds. ``arg`` is always an integer: a plain value
or the address of the argument struct in this process.
"""

from __future__ import annotations

from typing import Protocol


class Backend(Protocol):
    """What the fd classes need from a KVM implementation."""

    #: "host" or "model"; shown in messages.
    name: str

    def open_kvm(self) -> int:
        """Open the system fd (/dev/kvm); raise ``VmmError`` when impossible."""

    def ioctl(self, fd: int, request: int, arg: int) -> int:
        """Issue one ioctl; return its non-negative result or raise ``OSError``."""

    def map_vcpu_run(self, fd: int, size: int) -> memoryview:
        """Map the vCPU's shared ``kvm_run`` area (``size`` bytes) writable."""

    def close(self, fd: int) -> None:
        """Close an fd this backend returned."""
