"""The model of KVM decodes requests on its own and answers with the kernel's errnos."""

from __future__ import annotations

import errno

import pytest

from vmm.core.errors import KvmError
from vmm.core.kvm import ioctls as k
from vmm.core.kvm.cdefs import ffi
from vmm.core.kvm.fds import Kvm
from vmm.core.kvm.ioc import Ioctl, ioc
from vmm.core.model.backend import ModelBackend
from vmm.core.vm import run_vm

from .fakearch import FakeModel


def test_generic_request_numbers_match_the_kernel():
    # The kernel's numbers for the generic ioctls (include/uapi/linux/kvm.h, x86-64).
    assert k.KVM_RUN.number == 0xAE80
    assert k.KVM_CREATE_VM.number == 0xAE01
    assert k.KVM_SET_USER_MEMORY_REGION.number == 0x4020AE46
    assert k.KVM_ENABLE_CAP.number == 0x4068AEA3
    assert k.KVM_SET_ONE_REG.number == 0x4010AEAC
    assert k.KVM_CREATE_DEVICE.number == 0xC00CAEE0
    assert k.KVM_IOEVENTFD.number == 0x4040AE79
    assert k.KVM_IRQFD.number == 0x4020AE76


def test_a_wrongly_encoded_request_is_enotty():
    backend = ModelBackend(FakeModel())
    kvm = Kvm(backend)
    vmfd = kvm.create_vm(0)
    wrong_size = Ioctl("KVM_SET_USER_MEMORY_REGION", ioc(1, 0xAE, 0x46, 24))
    region = ffi.new("struct kvm_userspace_memory_region *")
    with pytest.raises(KvmError) as raised:
        vmfd.call(wrong_size, region)
    assert raised.value.errno == errno.ENOTTY
    assert "KVM_SET_USER_MEMORY_REGION" in str(raised.value)
    wrong_direction = Ioctl("KVM_RUN", ioc(2, 0xAE, 0x80, 0))
    vcpu = vmfd.create_vcpu(0)
    with pytest.raises(KvmError) as raised:
        vcpu.call(wrong_direction)
    assert raised.value.errno == errno.ENOTTY


def test_memslot_rules():
    kvm = Kvm(ModelBackend(FakeModel()))
    vmfd = kvm.create_vm(0)
    vmfd.set_user_memory_region(0, 0, 0x10000, 0x7F0000000000)
    with pytest.raises(KvmError) as raised:
        vmfd.set_user_memory_region(1, 0x8000, 0x10000, 0x7F0000100000)
    assert raised.value.errno == errno.EEXIST
    with pytest.raises(KvmError) as raised:
        vmfd.set_user_memory_region(2, 0x20001, 0x1000, 0x7F0000200000)
    assert raised.value.errno == errno.EINVAL
    with pytest.raises(KvmError) as raised:
        kvm.create_vm(0x100)
    assert raised.value.errno == errno.EINVAL
    vmfd.create_vcpu(0)
    with pytest.raises(KvmError) as raised:
        vmfd.create_vcpu(0)
    assert raised.value.errno == errno.EEXIST
    with pytest.raises(KvmError) as raised:
        vmfd.create_irqchip()
    assert raised.value.errno == errno.EINVAL, "an irqchip after vCPUs is refused"


def test_dry_run_sequence_of_a_two_vcpu_vm(make_vm):
    vm = make_vm(cpus=2)
    run_vm(vm, start=False)
    assert [str(call) for call in vm.backend.log] == [
        "kvm: KVM_GET_API_VERSION",
        "kvm: KVM_CHECK_EXTENSION(cap=66)",
        "kvm: KVM_CREATE_VM(type=0x0)",
        "vm: KVM_SET_USER_MEMORY_REGION(slot=0 gpa=0x0 size=0x1000000)",
        "vm: KVM_CREATE_VCPU(id=0)",
        "kvm: KVM_GET_VCPU_MMAP_SIZE",
        "vm: KVM_CREATE_VCPU(id=1)",
        "kvm: KVM_GET_VCPU_MMAP_SIZE",
        "vcpu0: KVM_SET_ONE_REG(id=0x10)",
        "vcpu1: KVM_SET_ONE_REG(id=0x10)",
    ]


def test_unclaimed_port_reads_are_all_ones_and_mmio_reads_zero(make_vm):
    from vmm.core.testing.model_vm import ModelVm

    vm = make_vm()
    model_vm = ModelVm(vm, vm.backend)
    model_vm.build()
    model_vm.exit("io", port=0x80, size=2, is_write=False)
    model_vm.exit("mmio", addr=0xFEE00000, size=4, is_write=False)
    model_vm.exit("system_event", type=1)
    reads = model_vm.completed_reads()
    assert reads[0] == ("io", 0x80, b"\xff\xff")
    assert reads[1] == ("mmio", 0xFEE00000, b"\0\0\0\0")
    assert vm.exit_code == 0 and vm.stopping.is_set()
    model_vm.teardown()


def test_unhandled_exit_is_a_guest_error_and_threads_report_it(make_vm):
    from vmm.core.errors import GuestError

    vm = make_vm()
    vm.backend.arch.idle_exit = lambda vcpu: ("hlt", {})
    with pytest.raises(GuestError, match="unhandled KVM exit KVM_EXIT_HLT"):
        run_vm(vm)
    assert vm.vmfd is None
