"""The host backend: the real /dev/kvm through libc's ioctl, called via cffi.

cffi releases the GIL for the duration of each call, so a vCPU thread blocked in
KVM_RUN does not stop the other threads.
"""

from __future__ import annotations

import errno
import mmap
import os

from ..errors import VmmError
from .ffiload import load_ffi

# ioctl is variadic in C; on the LP64 Linux ABIs vmm supports (x86-64, arm64,
# riscv64) an integer third argument is passed exactly as a fixed one would be.
_libc_ffi = load_ffi("libc_ioctl", "int ioctl(int fd, unsigned long request, uintptr_t arg);")
_libc = _libc_ffi.dlopen(None)
_libc_ioctl = _libc.ioctl  # looked up once: every KVM_RUN goes through it

KVM_DEVICE = "/dev/kvm"
#: Environment variable naming another KVM device node (tests point it at paths
#: they control to check the errors for a missing or inaccessible /dev/kvm).
KVM_DEVICE_ENV = "VMM_KVM_DEVICE"


class HostBackend:
    """Real KVM."""

    name = "host"

    def __init__(self, device: str | None = None) -> None:
        self.device = device or os.environ.get(KVM_DEVICE_ENV) or KVM_DEVICE
        self._maps: dict[int, mmap.mmap] = {}

    def open_kvm(self) -> int:
        try:
            return os.open(self.device, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            raise VmmError(
                f"{self.device} does not exist: this host has no KVM; load the kvm "
                "module, or use --dry-run to run against the model of KVM"
            ) from None
        except PermissionError:
            raise VmmError(
                f"{self.device} is not accessible: add yourself to the 'kvm' group "
                "(or run as root), or use --dry-run"
            ) from None
        except OSError as error:
            raise VmmError(f"cannot open {self.device}: {error.strerror}") from None

    def ioctl(self, fd: int, request: int, arg: int) -> int:
        result: int = _libc_ioctl(fd, request, arg)
        if result < 0:
            code = _libc_ffi.errno
            raise OSError(code, os.strerror(code))
        return result

    def map_vcpu_run(self, fd: int, size: int) -> memoryview:
        area = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self._maps[fd] = area
        return memoryview(area)

    def close(self, fd: int) -> None:
        area = self._maps.pop(fd, None)
        if area is not None:
            try:
                area.close()
            except BufferError:
                pass  # a view is still alive; the mapping goes with the process
        try:
            os.close(fd)
        except OSError as error:
            if error.errno != errno.EBADF:
                raise
