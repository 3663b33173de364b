"""The architecture part of the model of KVM: what each arch plugin supplies.

A subclass declares the arch's ioctls (``vm_ioctls``/``vcpu_ioctls``: request nr ->
:class:`IoctlShape`) with handlers named ``on_<ioctl name lowercased>``, its
capabilities, how a VM type is validated, and what KVM_RUN returns when no test has
scripted an exit. Layers (stacked on an arch plugin) wrap an ArchModel by subclassing
:class:`ArchModelLayer`.
"""

from __future__ import annotations

import errno
from typing import Any

from .decode import IoctlShape
from .state import DeviceState, VcpuState, VmState


class ModelErrno(Exception):
    """Raised by model handlers: the ioctl fails with this errno, as in the kernel."""

    def __init__(self, code: int, why: str = "") -> None:
        super().__init__(why or errno.errorcode.get(code, str(code)))
        self.errno = code
        self.why = why


class ArchModel:
    """Defaults shared by every architecture's model."""

    arch = "generic"
    #: vCPU mmap size (KVM_GET_VCPU_MMAP_SIZE).
    vcpu_mmap_size = 2 * 4096
    #: KVM_CHECK_EXTENSION answers on the system fd.
    capabilities: dict[int, int] = {}
    vm_ioctls: dict[int, IoctlShape] = {}
    vcpu_ioctls: dict[int, IoctlShape] = {}
    device_ioctls: dict[int, IoctlShape] = {}
    system_ioctls: dict[int, IoctlShape] = {}
    #: Whether the modelled kernel has guest_memfd and memory attributes at all.
    private_memory = False

    def vm_has_private_memory(self, vm: VmState) -> bool:
        """Whether ``vm``'s type has private memory (kvm_arch_has_private_mem)."""
        return False

    def irqfd_allowed(self, vm: VmState) -> bool:
        """Whether KVM_IRQFD is accepted on ``vm`` (kvm_arch_irqfd_allowed); EINVAL if not."""
        return True

    def check_extension(self, vm: VmState | None, cap: int) -> int:
        """KVM_CHECK_EXTENSION; ``vm`` is None on the system fd."""
        return self.capabilities.get(cap, 0)

    def validate_vm_type(self, vm_type: int) -> None:
        """Raise ModelErrno(EINVAL) for a machine type the kernel refuses."""
        if vm_type != 0:
            raise ModelErrno(errno.EINVAL, f"machine type {vm_type:#x} not supported")

    def new_vm(self, vm: VmState) -> None:
        """Set up arch state of a new VM."""

    def before_create_vcpu(self, vm: VmState, vcpu_id: int) -> None:
        """Check KVM_CREATE_VCPU's rules; raise ModelErrno to refuse."""

    def new_vcpu(self, vcpu: VcpuState) -> None:
        """Set up arch state of a new vCPU."""

    def enable_cap(self, vm: VmState, cap: int, flags: int, args: tuple[int, ...]) -> int:
        """KVM_ENABLE_CAP on the VM fd."""
        raise ModelErrno(errno.EINVAL, f"capability {cap} can't be enabled")

    def set_one_reg(self, vcpu: VcpuState, reg_id: int, value: bytes) -> None:
        vcpu.regs[reg_id] = int.from_bytes(value, "little")

    def get_one_reg(self, vcpu: VcpuState, reg_id: int, size: int) -> bytes:
        if reg_id not in vcpu.regs:
            raise ModelErrno(errno.ENOENT, f"register {reg_id:#x} unknown")
        return vcpu.regs[reg_id].to_bytes(size, "little")

    def create_device(self, vm: VmState, device_type: int, flags: int) -> DeviceState:
        raise ModelErrno(errno.ENODEV, f"device type {device_type} not modelled")

    def check_msi(self, vm: VmState, address: int, devid: int | None) -> None:
        """KVM_SIGNAL_MSI's arch rules (an arm64 ITS wants the DeviceID); raise
        ModelErrno to refuse."""

    def before_run(self, vcpu: VcpuState) -> None:
        """Check KVM_RUN's preconditions (raise ModelErrno to refuse)."""

    def idle_exit(self, vcpu: VcpuState) -> tuple[str, dict[str, Any]]:
        """The exit KVM_RUN gives when no exit was scripted: the guest powers off."""
        return ("system_event", {"type": 1})

    def write_exit(self, area: bytearray, kind: str,
                   fields: dict[str, Any]) -> tuple[str, int, int, int] | None:
        """Write an exit of the arch's own ``kind`` into the ``kvm_run`` ``area``
        (the core's kinds are written by :mod:`.runarea`); return what a read must
        later be collected from, as :func:`.runarea.write_exit` does."""
        raise ValueError(f"the {self.arch} model has no exit kind {kind!r}")

    def handle(self, kind: str, state: Any, name: str, arg: int) -> Any:
        """Dispatch an arch ioctl to ``on_<name>``; NotImplemented if none."""
        handler = getattr(self, f"on_{name.lower()}", None)
        if handler is None:
            return NotImplemented
        return handler(state, arg)


class ArchModelLayer(ArchModel):
    """Wraps another ArchModel; forwards everything not overridden."""

    def __init__(self, inner: ArchModel) -> None:
        self.inner = inner
        self.arch = inner.arch
        self.vcpu_mmap_size = inner.vcpu_mmap_size
        self.capabilities = inner.capabilities
        self.vm_ioctls = {**inner.vm_ioctls, **type(self).vm_ioctls}
        self.vcpu_ioctls = {**inner.vcpu_ioctls, **type(self).vcpu_ioctls}
        self.device_ioctls = {**inner.device_ioctls, **type(self).device_ioctls}
        self.system_ioctls = {**inner.system_ioctls, **type(self).system_ioctls}
        self.private_memory = inner.private_memory

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def check_extension(self, vm: VmState | None, cap: int) -> int:
        return self.inner.check_extension(vm, cap)

    def vm_has_private_memory(self, vm: VmState) -> bool:
        return self.inner.vm_has_private_memory(vm)

    def irqfd_allowed(self, vm: VmState) -> bool:
        return self.inner.irqfd_allowed(vm)

    def validate_vm_type(self, vm_type: int) -> None:
        return self.inner.validate_vm_type(vm_type)

    def new_vm(self, vm: VmState) -> None:
        return self.inner.new_vm(vm)

    def before_create_vcpu(self, vm: VmState, vcpu_id: int) -> None:
        return self.inner.before_create_vcpu(vm, vcpu_id)

    def new_vcpu(self, vcpu: VcpuState) -> None:
        return self.inner.new_vcpu(vcpu)

    def enable_cap(self, vm: VmState, cap: int, flags: int, args: tuple[int, ...]) -> int:
        return self.inner.enable_cap(vm, cap, flags, args)

    def set_one_reg(self, vcpu: VcpuState, reg_id: int, value: bytes) -> None:
        return self.inner.set_one_reg(vcpu, reg_id, value)

    def get_one_reg(self, vcpu: VcpuState, reg_id: int, size: int) -> bytes:
        return self.inner.get_one_reg(vcpu, reg_id, size)

    def create_device(self, vm: VmState, device_type: int, flags: int) -> DeviceState:
        return self.inner.create_device(vm, device_type, flags)

    def check_msi(self, vm: VmState, address: int, devid: int | None) -> None:
        return self.inner.check_msi(vm, address, devid)

    def before_run(self, vcpu: VcpuState) -> None:
        return self.inner.before_run(vcpu)

    def idle_exit(self, vcpu: VcpuState) -> tuple[str, dict[str, Any]]:
        return self.inner.idle_exit(vcpu)

    def write_exit(self, area: bytearray, kind: str,
                   fields: dict[str, Any]) -> tuple[str, int, int, int] | None:
        return self.inner.write_exit(area, kind, fields)

    def handle(self, kind: str, state: Any, name: str, arg: int) -> Any:
        handler = getattr(type(self), f"on_{name.lower()}", None)
        if handler is not None:
            return handler(self, state, arg)
        return self.inner.handle(kind, state, name, arg)
