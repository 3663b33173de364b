"""Kvm -> VmFd -> VcpuFd: typed wrappers over the ioctl seam.

Each method packs its argument struct with cffi, calls the backend, and turns an
errno into :class:`KvmError` naming the ioctl. Arch plugins issue their own ioctls
through :meth:`Fd.call` with an :class:`Ioctl` from their own table.
"""

from __future__ import annotations

import errno
from typing import Any

from ..errors import KvmError, VmmError
from . import ioctls as k
from .cdefs import ffi
from .exits import Exit, ExitDecoder
from .ioc import Ioctl
from .seam import Backend

_KVM_RUN_NUMBER = k.KVM_RUN.number
_EFAULT = 14
_EXIT_MEMORY_FAULT = k.KVM_EXIT_MEMORY_FAULT


class Fd:
    """An fd owned by a backend, with a checked ioctl helper."""

    def __init__(self, backend: Backend, fd: int) -> None:
        self.backend = backend
        self.fd = fd

    def call(self, ioctl: Ioctl, arg: Any = 0, hint: str = "") -> int:
        """Issue ``ioctl`` with ``arg`` (an int, or cffi cdata whose address is passed)."""
        # ``arg`` stays referenced until the ioctl returns: a temporary cdata
        # (``fd.call(IOCTL, ffi.new(...))``) must not be freed before the kernel reads it.
        address = int(ffi.cast("uintptr_t", arg)) if isinstance(arg, ffi.CData) else arg
        try:
            return self.backend.ioctl(self.fd, ioctl.number, address)
        except OSError as error:
            raise KvmError(ioctl.name, error.errno or errno.EIO, hint) from None

    def close(self) -> None:
        if self.fd >= 0:
            self.backend.close(self.fd)
            self.fd = -1


class Kvm(Fd):
    """The system fd (/dev/kvm)."""

    def __init__(self, backend: Backend) -> None:
        super().__init__(backend, backend.open_kvm())
        version = self.call(k.KVM_GET_API_VERSION)
        if version != k.KVM_API_VERSION:
            self.close()
            raise VmmError(
                f"KVM API version {version} is not supported (vmm needs {k.KVM_API_VERSION})"
            )

    def check_extension(self, cap: int) -> int:
        """KVM_CHECK_EXTENSION on the system fd (0 when absent)."""
        return self.call(k.KVM_CHECK_EXTENSION, cap)

    def vcpu_mmap_size(self) -> int:
        return self.call(k.KVM_GET_VCPU_MMAP_SIZE)

    def create_vm(self, vm_type: int = 0) -> VmFd:
        fd = self.call(k.KVM_CREATE_VM, vm_type, hint=f"machine type {vm_type:#x}")
        return VmFd(self, fd)


def _region_fields(slot: int, flags: int, guest_phys_addr: int, size: int,
                   host_addr: int) -> dict[str, int]:
    """The fields KVM_SET_USER_MEMORY_REGION and its ``2`` variant share."""
    return {"slot": slot, "flags": flags, "guest_phys_addr": guest_phys_addr,
            "memory_size": size, "userspace_addr": host_addr}


class VmFd(Fd):
    """A VM fd."""

    def __init__(self, kvm: Kvm, fd: int) -> None:
        super().__init__(kvm.backend, fd)
        self.kvm = kvm

    def check_extension(self, cap: int) -> int:
        """KVM_CHECK_EXTENSION on the VM fd (what *this* VM supports)."""
        return self.call(k.KVM_CHECK_EXTENSION, cap)

    def set_user_memory_region(
        self, slot: int, guest_phys_addr: int, size: int, host_addr: int, flags: int = 0
    ) -> None:
        region = ffi.new("struct kvm_userspace_memory_region *",
                         _region_fields(slot, flags, guest_phys_addr, size, host_addr))
        self.call(k.KVM_SET_USER_MEMORY_REGION, region)

    def create_guest_memfd(self, size: int, flags: int = 0) -> int:
        """KVM_CREATE_GUEST_MEMFD: a file of ``size`` bytes of private guest memory.

        The fd belongs to the backend (close it with ``backend.close``).
        """
        arg = ffi.new("struct kvm_create_guest_memfd *", {"size": size, "flags": flags})
        return self.call(k.KVM_CREATE_GUEST_MEMFD, arg, hint=f"{size >> 20} MiB")

    def set_user_memory_region2(
        self, slot: int, guest_phys_addr: int, size: int, host_addr: int, guest_memfd: int,
        guest_memfd_offset: int = 0, flags: int = k.KVM_MEM_GUEST_MEMFD,
    ) -> None:
        """KVM_SET_USER_MEMORY_REGION2: a memslot whose private pages come from a
        guest_memfd and whose shared pages are at ``host_addr``."""
        fields = _region_fields(slot, flags, guest_phys_addr, size, host_addr)
        fields.update(guest_memfd_offset=guest_memfd_offset, guest_memfd=guest_memfd)
        region = ffi.new("struct kvm_userspace_memory_region2 *", fields)
        self.call(k.KVM_SET_USER_MEMORY_REGION2, region, hint=f"slot {slot} at {guest_phys_addr:#x}")

    def set_memory_attributes(self, address: int, size: int, attributes: int) -> None:
        """KVM_SET_MEMORY_ATTRIBUTES: make a guest range private or shared."""
        arg = ffi.new("struct kvm_memory_attributes *",
                      {"address": address, "size": size, "attributes": attributes})
        self.call(k.KVM_SET_MEMORY_ATTRIBUTES, arg, hint=f"{address:#x}+{size:#x}")

    def create_vcpu(self, vcpu_id: int) -> VcpuFd:
        fd = self.call(k.KVM_CREATE_VCPU, vcpu_id)
        return VcpuFd(self, fd, vcpu_id)

    def create_irqchip(self) -> None:
        self.call(k.KVM_CREATE_IRQCHIP)

    def irq_line(self, irq: int, level: int) -> None:
        arg = ffi.new("struct kvm_irq_level *", {"irq": irq, "level": level})
        self.call(k.KVM_IRQ_LINE, arg)

    def enable_cap(self, cap: int, *args: int, flags: int = 0) -> int:
        arg = ffi.new("struct kvm_enable_cap *")
        arg.cap = cap
        arg.flags = flags
        for index, value in enumerate(args):
            arg.args[index] = value
        return self.call(k.KVM_ENABLE_CAP, arg)

    def ioeventfd(
        self,
        addr: int,
        length: int,
        eventfd: int,
        *,
        pio: bool,
        datamatch: int | None = None,
        deassign: bool = False,
    ) -> None:
        """KVM_IOEVENTFD: signal ``eventfd`` on guest writes to ``addr`` (or stop)."""
        arg = ffi.new("struct kvm_ioeventfd *")
        arg.addr = addr
        arg.len = length
        arg.fd = eventfd
        arg.flags = k.KVM_IOEVENTFD_FLAG_PIO if pio else 0
        if deassign:
            arg.flags |= k.KVM_IOEVENTFD_FLAG_DEASSIGN
        if datamatch is not None:
            arg.flags |= k.KVM_IOEVENTFD_FLAG_DATAMATCH
            arg.datamatch = datamatch
        self.call(k.KVM_IOEVENTFD, arg)

    def irqfd(self, eventfd: int, gsi: int) -> None:
        arg = ffi.new("struct kvm_irqfd *", {"fd": eventfd, "gsi": gsi})
        self.call(k.KVM_IRQFD, arg)

    def signal_msi(self, address: int, data: int, devid: int | None = None) -> int:
        """KVM_SIGNAL_MSI: inject one message-signalled interrupt; >0 when delivered."""
        arg = ffi.new("struct kvm_msi *")
        arg.address_lo = address & 0xFFFFFFFF
        arg.address_hi = address >> 32
        arg.data = data
        if devid is not None:
            arg.flags = k.KVM_MSI_VALID_DEVID
            arg.devid = devid
        return self.call(k.KVM_SIGNAL_MSI, arg)

    def create_device(self, device_type: int, flags: int = 0) -> DeviceFd:
        arg = ffi.new("struct kvm_create_device *", {"type": device_type, "flags": flags})
        self.call(k.KVM_CREATE_DEVICE, arg)
        return DeviceFd(self.backend, arg.fd)


class DeviceFd(Fd):
    """A device fd from KVM_CREATE_DEVICE (vGIC, AIA, ...)."""

    def _attr(self, group: int, attr: int, value: Any | None) -> Any:
        arg = ffi.new("struct kvm_device_attr *")
        arg.group = group
        arg.attr = attr
        arg.addr = int(ffi.cast("uintptr_t", value)) if value is not None else 0
        return arg

    def set_attr(self, group: int, attr: int, value: Any | None = None) -> None:
        """KVM_SET_DEVICE_ATTR; ``value`` is cdata pointing at the attribute's value."""
        self.call(k.KVM_SET_DEVICE_ATTR, self._attr(group, attr, value))

    def has_attr(self, group: int, attr: int) -> bool:
        try:
            self.call(k.KVM_HAS_DEVICE_ATTR, self._attr(group, attr, None))
        except KvmError:
            return False
        return True


class VcpuFd(Fd):
    """A vCPU fd with its mapped ``kvm_run`` area."""

    def __init__(self, vmfd: VmFd, fd: int, vcpu_id: int) -> None:
        super().__init__(vmfd.backend, fd)
        self.vmfd = vmfd
        self.vcpu_id = vcpu_id
        size = vmfd.kvm.vcpu_mmap_size()
        self.run_area = self.backend.map_vcpu_run(fd, size)
        self.kvm_run = ffi.from_buffer("struct kvm_run *", self.run_area)
        self.exits = ExitDecoder(self.kvm_run, self.run_area)
        self._backend_ioctl = self.backend.ioctl
        self._decode = self.exits.decode

    def run(self) -> Exit:
        """KVM_RUN once and return the decoded exit (objects reused between calls).

        The hot path: the backend is called directly with the precomputed request
        number (no argument conversion, as :meth:`Fd.call` would do).
        """
        try:
            self._backend_ioctl(self.fd, _KVM_RUN_NUMBER, 0)
        except OSError as error:
            # A memory fault is an exit that KVM_RUN reports as -1/EFAULT.
            if error.errno != _EFAULT or self.kvm_run.exit_reason != _EXIT_MEMORY_FAULT:
                raise KvmError(k.KVM_RUN.name, error.errno or errno.EIO) from None
        return self._decode()

    def get_one_reg(self, reg_id: int, size: int = 8) -> int:
        value = ffi.new("uint8_t[]", size)
        arg = ffi.new("struct kvm_one_reg *", {"id": reg_id})
        arg.addr = int(ffi.cast("uintptr_t", value))
        self.call(k.KVM_GET_ONE_REG, arg, hint=f"register {reg_id:#x}")
        return int.from_bytes(ffi.buffer(value), "little")

    def set_one_reg(self, reg_id: int, value: int, size: int = 8) -> None:
        data = ffi.new("uint8_t[]", value.to_bytes(size, "little"))
        arg = ffi.new("struct kvm_one_reg *", {"id": reg_id})
        arg.addr = int(ffi.cast("uintptr_t", data))
        self.call(k.KVM_SET_ONE_REG, arg, hint=f"register {reg_id:#x}")

    def close(self) -> None:
        self.exits.release()
        self.kvm_run = None
        super().close()
