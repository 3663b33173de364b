"""Private guest memory (guest_memfd) as a generic core capability: the model's
ioctls and errnos, RAM backed by guest_memfd when a plugin asks, and memory-fault
exits converting ranges between private and shared."""

from __future__ import annotations

import errno

import pytest

from vmm import hookimpl
from vmm.core.errors import GuestError, KvmError
from vmm.core.kvm import ioctls as k
from vmm.core.kvm.fds import Kvm
from vmm.core.model.backend import ModelBackend
from vmm.core.model.state import GuestMemfdState
from vmm.core.testing.model_vm import ModelVm

from .fakearch import FakeModel

PRIVATE = k.KVM_MEMORY_ATTRIBUTE_PRIVATE
HOST_ADDR = 0x7F00_0000_0000


class PrivateMemoryModel(FakeModel):
    """A kernel with guest_memfd where machine type 1 has private memory."""

    private_memory = True

    def validate_vm_type(self, vm_type: int) -> None:
        if vm_type not in (0, 1):
            super().validate_vm_type(vm_type)

    def vm_has_private_memory(self, vm) -> bool:
        return vm.vm_type == 1


class PrivateRam:
    """A plugin that asks for private memory."""

    @hookimpl
    def vmm_private_memory(self, vm):
        return True

    @hookimpl
    def vmm_vm_type(self, vm):
        return 1


def errno_of(call) -> int:
    with pytest.raises(KvmError) as raised:
        call()
    return raised.value.errno


def test_capabilities_follow_the_kernel_and_the_vm_type():
    old, new = Kvm(ModelBackend(FakeModel())), Kvm(ModelBackend(PrivateMemoryModel()))
    caps = (k.KVM_CAP_USER_MEMORY2, k.KVM_CAP_GUEST_MEMFD, k.KVM_CAP_MEMORY_ATTRIBUTES)
    assert [old.check_extension(cap) for cap in caps] == [0, 0, 0]
    assert [new.check_extension(cap) for cap in caps] == [1, 1, PRIVATE]
    assert [new.create_vm(1).check_extension(cap) for cap in caps] == [1, 1, PRIVATE]
    assert [new.create_vm(0).check_extension(cap) for cap in caps] == [1, 0, 0]
    assert errno_of(lambda: old.create_vm(0).create_guest_memfd(0x10000)) == errno.ENOTTY


def test_guest_memfd_memslots_and_attributes_are_checked():
    backend = ModelBackend(PrivateMemoryModel())
    kvm = Kvm(backend)
    vmfd, normal = kvm.create_vm(1), kvm.create_vm(0)
    gmem = vmfd.create_guest_memfd(0x10000)
    assert isinstance(backend._objects[gmem], GuestMemfdState)
    assert errno_of(lambda: vmfd.create_guest_memfd(0x1800)) == errno.EINVAL  # not whole pages
    assert errno_of(lambda: vmfd.set_user_memory_region2(0, 0, 0x20000, HOST_ADDR, gmem)) \
        == errno.EINVAL  # larger than the guest_memfd
    assert errno_of(lambda: normal.set_user_memory_region2(0, 0, 0x10000, HOST_ADDR, gmem)) \
        == errno.EINVAL  # another VM's guest_memfd, and no private memory there
    vmfd.set_user_memory_region2(0, 0, 0x10000, HOST_ADDR, gmem)
    (slot,) = backend.system.vms[0].memslots.values()
    assert slot.can_be_private and slot.guest_memfd is backend._objects[gmem]
    vmfd.set_memory_attributes(0, 0x10000, PRIVATE)
    vmfd.set_memory_attributes(0x4000, 0x1000, 0)
    assert backend.system.vms[0].private.intervals() == [(0, 0x4000), (0x5000, 0x10000)]
    assert errno_of(lambda: vmfd.set_memory_attributes(0x800, 0x1000, PRIVATE)) == errno.EINVAL
    assert errno_of(lambda: vmfd.set_memory_attributes(0, 0x1000, 1 << 1)) == errno.EINVAL
    assert errno_of(lambda: normal.set_memory_attributes(0, 0x1000, PRIVATE)) == errno.EINVAL


def build(make_vm) -> ModelVm:
    vm = make_vm(PrivateRam())
    vm.backend = ModelBackend(PrivateMemoryModel())
    model_vm = ModelVm(vm, vm.backend)
    model_vm.build()
    return model_vm


def test_ram_is_private_memory_when_a_plugin_asks(make_vm):
    model_vm = build(make_vm)
    log = model_vm.ioctl_log()
    assert "vm: KVM_CREATE_GUEST_MEMFD(size=0x1000000)" in log
    assert "vm: KVM_SET_USER_MEMORY_REGION2(slot=0 gpa=0x0 size=0x1000000 guest_memfd offset=0x0)" in log
    assert "vm: KVM_SET_MEMORY_ATTRIBUTES(address=0x0 size=0x1000000 attributes=0x8)" in log
    assert "KVM_SET_USER_MEMORY_REGION" not in model_vm.ioctl_names()
    model_vm.teardown()
    assert not any(isinstance(obj, GuestMemfdState) for obj in model_vm.backend._objects.values())


def test_memory_faults_convert_as_the_guest_asks(make_vm):
    model_vm = build(make_vm)
    vm_state = model_vm.backend.system.vms[-1]
    model_vm.exit("memory_fault", gpa=0x200000, size=0x3000, flags=0)
    assert vm_state.private.intervals() == [(0, 0x200000), (0x203000, 0x1000000)]
    model_vm.exit("memory_fault", gpa=0x201000, size=0x1000, flags=k.KVM_MEMORY_EXIT_FLAG_PRIVATE)
    assert vm_state.private.intervals() == [(0, 0x200000), (0x201000, 0x202000),
                                            (0x203000, 0x1000000)]
    model_vm.exit("system_event", type=1)
    assert model_vm.vm.exit_code == 0
    model_vm.teardown()


@pytest.mark.parametrize("gpa, size", [(0x1000000, 0x1000), (0xFFF000, 0x2000), (0x800, 0x1000),
                                       (0x1000, 0)])
def test_a_fault_outside_private_ram_stops_the_vm(make_vm, gpa: int, size: int):
    model_vm = build(make_vm)
    with pytest.raises(GuestError, match="memory fault on .* not private guest RAM"):
        model_vm.exit("memory_fault", gpa=gpa, size=size, flags=0)
    model_vm.teardown()
