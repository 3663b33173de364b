"""The model backend: a stand-in for /dev/kvm that answers like the kernel.

Every call is recorded in :attr:`ModelBackend.log` (the ``--dry-run`` report and the
tests' view of the ioctl sequence). Tests script exits with :meth:`queue_exit`.
"""

from __future__ import annotations

import errno
import itertools
import struct
from dataclasses import dataclass
from typing import Any

from .base import ArchModel, ModelErrno
from .decode import IoctlShape, Request, UserMemory, io, iow, iowr
from .memory import (
    KVM_CAP_GUEST_MEMFD,
    KVM_CAP_MEMORY_ATTRIBUTES,
    KVM_CAP_USER_MEMORY2,
    KVM_MEMORY_ATTRIBUTE_PRIVATE,
    MEMSLOT2_FORMAT,
    MEMSLOT_FORMAT,
    MemoryIoctls,
)
from .runarea import EXIT_REASONS, immediate_exit, write_exit
from .state import DeviceState, SystemState, VcpuState, VmState

API_VERSION = 12
KVM_CAP_USER_MEMORY = 3
KVM_CAP_NR_VCPUS = 9
KVM_CAP_MAX_VCPUS = 66
MODEL_MAX_VCPUS = 8
IOEVENTFD_DATAMATCH, IOEVENTFD_PIO, IOEVENTFD_DEASSIGN = 1, 2, 4
MSI_VALID_DEVID = 1

SYSTEM_IOCTLS = {
    0x00: io("KVM_GET_API_VERSION"),
    0x01: io("KVM_CREATE_VM"),
    0x03: io("KVM_CHECK_EXTENSION"),
    0x04: io("KVM_GET_VCPU_MMAP_SIZE"),
}
VM_IOCTLS = {
    0x03: io("KVM_CHECK_EXTENSION"),
    0x41: io("KVM_CREATE_VCPU"),
    0x46: iow("KVM_SET_USER_MEMORY_REGION", MEMSLOT_FORMAT),
    0x49: iow("KVM_SET_USER_MEMORY_REGION2", MEMSLOT2_FORMAT),
    0x60: io("KVM_CREATE_IRQCHIP"),
    0x61: iow("KVM_IRQ_LINE", "<II"),
    0x76: iow("KVM_IRQFD", "<IIII16s"),
    0x79: iow("KVM_IOEVENTFD", "<QQIiI36s"),
    0xA3: iow("KVM_ENABLE_CAP", "<II4Q64s"),
    0xA5: iow("KVM_SIGNAL_MSI", "<IIIII12s"),
    0xD2: iow("KVM_SET_MEMORY_ATTRIBUTES", "<QQQQ"),
    0xD4: iowr("KVM_CREATE_GUEST_MEMFD", "<QQ48s"),
    0xE0: iowr("KVM_CREATE_DEVICE", "<III"),
}
VCPU_IOCTLS = {
    0x80: io("KVM_RUN"),
    0xAB: iow("KVM_GET_ONE_REG", "<QQ"),
    0xAC: iow("KVM_SET_ONE_REG", "<QQ"),
}
DEVICE_IOCTLS = {
    0xE1: iow("KVM_SET_DEVICE_ATTR", "<IIQQ"),
    0xE2: iow("KVM_GET_DEVICE_ATTR", "<IIQQ"),
    0xE3: iow("KVM_HAS_DEVICE_ATTR", "<IIQQ"),
}


@dataclass
class Call:
    """One recorded ioctl: which fd kind, the ioctl's name, its decoded argument."""

    target: str
    name: str
    detail: str
    result: int | None = None
    errno: int | None = None

    def __str__(self) -> str:
        outcome = f" -> {errno.errorcode.get(self.errno, self.errno)}" if self.errno else ""
        detail = f"({self.detail})" if self.detail else ""
        return f"{self.target}: {self.name}{detail}{outcome}"


class ModelBackend(MemoryIoctls):
    """Implements the seam (``open_kvm``/``ioctl``/``map_vcpu_run``/``close``)."""

    name = "model"

    def __init__(self, arch: ArchModel) -> None:
        self.arch = arch
        self.system = SystemState()
        self.log: list[Call] = []
        self._objects: dict[int, Any] = {}
        self._next_fd = itertools.count(1000)

    # ------------------------------------------------------------ seam

    def open_kvm(self) -> int:
        return self._new_fd(self.system)

    def close(self, fd: int) -> None:
        self._objects.pop(fd, None)

    def map_vcpu_run(self, fd: int, size: int) -> memoryview:
        vcpu = self._objects.get(fd)
        if not isinstance(vcpu, VcpuState) or size > len(vcpu.run_area):
            raise OSError(errno.EINVAL, "not a vCPU fd")
        return memoryview(vcpu.run_area)

    def ioctl(self, fd: int, request: int, arg: int) -> int:
        target = self._objects.get(fd)
        if target is None:
            raise OSError(errno.EBADF, "Bad file descriptor")
        kind, generic, arch_table = self._tables(target)
        req = Request.decode(request)
        shape = generic.get(req.nr) or arch_table.get(req.nr)
        if shape is None or not shape.matches(req):
            self.log.append(Call(kind, f"ioctl {request:#x}", "", errno=errno.ENOTTY))
            raise OSError(errno.ENOTTY, f"unknown {kind} ioctl {request:#x}")
        call = Call(kind, shape.name, "")
        self.log.append(call)
        try:
            result = self._dispatch(kind, target, shape, arg, call)
        except ModelErrno as error:
            call.errno = error.errno
            raise OSError(error.errno, error.why) from None
        except OSError as error:
            call.errno = error.errno
            raise
        call.result = result
        return result

    # ------------------------------------------------------------ tests

    def queue_exit(self, vcpu_id: int, kind: str, vm_index: int = -1, **fields: Any) -> None:
        """Script the next KVM_RUN of a vCPU to return an exit of ``kind``."""
        vm = self.system.vms[vm_index]
        vm.vcpus[vcpu_id].scripted_exits.append((kind, fields))

    def names(self) -> list[str]:
        """The recorded ioctl names, in order."""
        return [call.name for call in self.log]

    # ------------------------------------------------------------ dispatch

    def _new_fd(self, obj: Any) -> int:
        fd = next(self._next_fd)
        self._objects[fd] = obj
        return fd

    def _tables(self, target: Any) -> tuple[str, dict[int, IoctlShape], dict[int, IoctlShape]]:
        if isinstance(target, SystemState):
            return "kvm", SYSTEM_IOCTLS, self.arch.system_ioctls
        if isinstance(target, VmState):
            return "vm", VM_IOCTLS, self.arch.vm_ioctls
        if isinstance(target, VcpuState):
            return f"vcpu{target.vcpu_id}", VCPU_IOCTLS, self.arch.vcpu_ioctls
        return "device", DEVICE_IOCTLS, self.arch.device_ioctls

    def _dispatch(self, kind: str, target: Any, shape: IoctlShape, arg: int, call: Call) -> int:
        handler = getattr(self, "_" + shape.name.lower(), None)
        if handler is not None and shape.name in _generic_names(kind):
            handled: int = handler(target, arg, call)
            return handled
        result = self.arch.handle(kind, target, shape.name, arg)
        if result is NotImplemented:
            raise ModelErrno(errno.ENOTTY, f"{shape.name} is not modelled")
        if isinstance(result, tuple):
            result, call.detail = result
        return int(result or 0)

    # system fd
    def _kvm_get_api_version(self, system: SystemState, arg: int, call: Call) -> int:
        return API_VERSION

    def _kvm_create_vm(self, system: SystemState, arg: int, call: Call) -> int:
        call.detail = f"type={arg:#x}"
        self.arch.validate_vm_type(arg)
        vm = VmState(arg)
        self.arch.new_vm(vm)
        system.vms.append(vm)
        return self._new_fd(vm)

    def _kvm_check_extension(self, target: Any, arg: int, call: Call) -> int:
        vm = target if isinstance(target, VmState) else None
        generic = {KVM_CAP_USER_MEMORY: 1, KVM_CAP_NR_VCPUS: MODEL_MAX_VCPUS,
                   KVM_CAP_MAX_VCPUS: MODEL_MAX_VCPUS}
        if self.arch.private_memory:  # a kernel with guest_memfd (Linux 6.8 and later)
            private = vm is None or self.arch.vm_has_private_memory(vm)
            generic.update({KVM_CAP_USER_MEMORY2: 1, KVM_CAP_GUEST_MEMFD: int(private),
                            KVM_CAP_MEMORY_ATTRIBUTES: KVM_MEMORY_ATTRIBUTE_PRIVATE * private})
        result = self.arch.check_extension(vm, arg) or generic.get(arg, 0)
        call.detail = f"cap={arg}"
        call.result = result
        return result

    def _kvm_get_vcpu_mmap_size(self, system: SystemState, arg: int, call: Call) -> int:
        return self.arch.vcpu_mmap_size

    # VM fd
    def _kvm_create_vcpu(self, vm: VmState, arg: int, call: Call) -> int:
        call.detail = f"id={arg}"
        if arg in vm.vcpus:
            raise ModelErrno(errno.EEXIST, f"vCPU {arg} exists")
        if arg >= MODEL_MAX_VCPUS:
            raise ModelErrno(errno.EINVAL, f"vCPU id {arg} too large")
        self.arch.before_create_vcpu(vm, arg)
        vcpu = VcpuState(vm, arg, bytearray(self.arch.vcpu_mmap_size))
        vm.vcpus[arg] = vcpu
        self.arch.new_vcpu(vcpu)
        return self._new_fd(vcpu)

    def _kvm_create_irqchip(self, vm: VmState, arg: int, call: Call) -> int:
        if vm.irqchip:
            raise ModelErrno(errno.EEXIST, "irqchip exists")
        if vm.vcpus:
            raise ModelErrno(errno.EINVAL, "irqchip after vCPUs")
        vm.irqchip = True
        return 0

    def _kvm_irq_line(self, vm: VmState, arg: int, call: Call) -> int:
        irq, level = UserMemory.unpack("<II", arg)
        call.detail = f"irq={irq:#x} level={level}"
        if not vm.irqchip and not vm.devices:
            raise ModelErrno(errno.ENXIO, "no in-kernel irqchip")
        return 0

    def _kvm_irqfd(self, vm: VmState, arg: int, call: Call) -> int:
        fd, gsi, flags, _, _ = UserMemory.unpack("<IIII16s", arg)
        call.detail = f"gsi={gsi}"
        if not self.arch.irqfd_allowed(vm):
            raise ModelErrno(errno.EINVAL, "this VM type takes no irqfd")
        vm.irqfds.append((fd, gsi))
        return 0

    def _kvm_ioeventfd(self, vm: VmState, arg: int, call: Call) -> int:
        datamatch, addr, length, fd, flags, _ = UserMemory.unpack("<QQIiI36s", arg)
        call.detail = f"addr={addr:#x} len={length} flags={flags:#x}"
        if length not in (0, 1, 2, 4, 8):
            raise ModelErrno(errno.EINVAL, "bad ioeventfd length")
        if flags & ~(IOEVENTFD_DATAMATCH | IOEVENTFD_PIO | IOEVENTFD_DEASSIGN):
            raise ModelErrno(errno.EINVAL, "unknown ioeventfd flags")
        if flags & IOEVENTFD_DEASSIGN:
            entry = (addr, length, fd, flags & ~IOEVENTFD_DEASSIGN)
            if entry not in vm.ioeventfds:
                raise ModelErrno(errno.ENOENT, "no such ioeventfd")
            vm.ioeventfds.remove(entry)
            return 0
        vm.ioeventfds.append((addr, length, fd, flags))
        return 0

    def _kvm_signal_msi(self, vm: VmState, arg: int, call: Call) -> int:
        address_lo, address_hi, data, flags, devid, _ = UserMemory.unpack("<IIIII12s", arg)
        address = address_hi << 32 | address_lo
        call.detail = f"address={address:#x} data={data:#x}"
        if flags & ~MSI_VALID_DEVID:
            raise ModelErrno(errno.EINVAL, "unknown MSI flags")
        if not vm.irqchip and not vm.devices:
            raise ModelErrno(errno.ENXIO, "no in-kernel irqchip")
        sender = devid if flags & MSI_VALID_DEVID else None
        self.arch.check_msi(vm, address, sender)
        vm.msis.append((address, data, sender))
        return 1

    def _kvm_enable_cap(self, vm: VmState, arg: int, call: Call) -> int:
        cap, flags, a0, a1, a2, a3, _ = UserMemory.unpack("<II4Q64s", arg)
        call.detail = f"cap={cap} args=[{a0:#x}, {a1:#x}]"
        result = self.arch.enable_cap(vm, cap, flags, (a0, a1, a2, a3))
        if isinstance(result, tuple):
            result, call.detail = result
        vm.enabled_caps.append((cap, (a0, a1, a2, a3)))
        return int(result or 0)

    def _kvm_create_device(self, vm: VmState, arg: int, call: Call) -> int:
        device_type, _, flags = UserMemory.unpack("<III", arg)
        call.detail = f"type={device_type}"
        device = self.arch.create_device(vm, device_type, flags)
        vm.devices.append(device)
        fd = self._new_fd(device)
        UserMemory.write(arg, struct.pack("<III", device_type, fd, flags))
        return 0

    # device fd
    def _kvm_set_device_attr(self, device: DeviceState, arg: int, call: Call) -> int:
        _, group, attr, addr = UserMemory.unpack("<IIQQ", arg)
        call.detail = f"group={group} attr={attr:#x}"
        result = self.arch.handle("device", device, "SET_DEVICE_ATTR", arg)
        if result is NotImplemented:
            device.attrs[(group, attr)] = UserMemory.read(addr, 8) if addr else b""
        return 0

    def _kvm_has_device_attr(self, device: DeviceState, arg: int, call: Call) -> int:
        result = self.arch.handle("device", device, "HAS_DEVICE_ATTR", arg)
        if result is NotImplemented:
            raise ModelErrno(errno.ENXIO, "attribute not modelled")
        return int(result)

    # vCPU fd
    def _kvm_set_one_reg(self, vcpu: VcpuState, arg: int, call: Call) -> int:
        reg_id, addr = UserMemory.unpack("<QQ", arg)
        size = 1 << ((reg_id >> 52) & 0xF)
        call.detail = f"id={reg_id:#x}"
        self.arch.set_one_reg(vcpu, reg_id, UserMemory.read(addr, size))
        return 0

    def _kvm_get_one_reg(self, vcpu: VcpuState, arg: int, call: Call) -> int:
        reg_id, addr = UserMemory.unpack("<QQ", arg)
        size = 1 << ((reg_id >> 52) & 0xF)
        call.detail = f"id={reg_id:#x}"
        UserMemory.write(addr, self.arch.get_one_reg(vcpu, reg_id, size))
        return 0

    def _kvm_run(self, vcpu: VcpuState, arg: int, call: Call) -> int:
        area = vcpu.run_area
        if vcpu.pending_read is not None:
            kind, address, offset, size = vcpu.pending_read
            vcpu.completed.append((kind, address, bytes(area[offset : offset + size])))
            vcpu.pending_read = None
        if immediate_exit(area):
            raise ModelErrno(errno.EINTR, "immediate_exit")
        self.arch.before_run(vcpu)
        vcpu.runs += 1
        if vcpu.scripted_exits:
            kind, fields = vcpu.scripted_exits.popleft()
        else:
            kind, fields = self.arch.idle_exit(vcpu)
        call.detail = kind
        if kind in EXIT_REASONS:
            vcpu.pending_read = write_exit(area, kind, fields)
        else:
            vcpu.pending_read = self.arch.write_exit(area, kind, fields)
        if kind == "memory_fault":  # KVM_RUN reports it as -1/EFAULT
            raise ModelErrno(errno.EFAULT, "memory fault exit")
        return 0


def _generic_names(kind: str) -> set[str]:
    if kind == "kvm":
        tables = [SYSTEM_IOCTLS]
    elif kind == "vm":
        tables = [VM_IOCTLS]
    elif kind == "device":
        tables = [DEVICE_IOCTLS]
    else:
        tables = [VCPU_IOCTLS]
    return {shape.name for table in tables for shape in table.values()}
