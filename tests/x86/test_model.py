"""The x86 model of KVM answers like the kernel, errnos included."""

from __future__ import annotations

import errno

import pytest

from vmm.core.errors import KvmError
from vmm.core.kvm.fds import Kvm
from vmm.core.kvm.ioc import Ioctl
from vmm.core.model.backend import ModelBackend
from vmm.plugins.x86 import uapi as x
from vmm.plugins.x86.cpu import set_cpuid, set_msrs, supported_cpuid
from vmm.plugins.x86.model import X86Model
from vmm.plugins.x86.uapi import ffi


@pytest.fixture
def kvm() -> Kvm:
    return Kvm(ModelBackend(X86Model()))


def _errno(call) -> int:
    with pytest.raises(KvmError) as info:
        call()
    return info.value.errno


def _pit(vmfd):
    vmfd.call(x.KVM_CREATE_PIT2, ffi.new("struct kvm_pit_config *", {"flags": 1}))


def test_pit_before_irqchip_is_enoent_and_twice_is_eexist(kvm):
    vmfd = kvm.create_vm()
    assert _errno(lambda: _pit(vmfd)) == errno.ENOENT
    vmfd.create_irqchip()
    _pit(vmfd)
    assert _errno(lambda: _pit(vmfd)) == errno.EEXIST


def test_irqchip_after_a_vcpu_is_einval(kvm):
    vmfd = kvm.create_vm()
    vmfd.create_vcpu(0)
    assert _errno(vmfd.create_irqchip) == errno.EINVAL


def test_identity_map_address_after_a_vcpu_is_einval(kvm):
    vmfd = kvm.create_vm()
    address = ffi.new("uint64_t *", 0xFFFBC000)
    vmfd.call(x.KVM_SET_IDENTITY_MAP_ADDR, address)
    vmfd.create_vcpu(0)
    assert _errno(lambda: vmfd.call(x.KVM_SET_IDENTITY_MAP_ADDR, address)) == errno.EINVAL


def test_tss_must_fit_below_4_gib(kvm):
    vmfd = kvm.create_vm()
    vmfd.call(x.KVM_SET_TSS_ADDR, 0xFFFBD000)
    assert _errno(lambda: vmfd.call(x.KVM_SET_TSS_ADDR, 0xFFFFF000)) == errno.EINVAL


def test_supported_cpuid_needs_room_for_every_entry(kvm):
    cpuid = ffi.new("struct kvm_cpuid2 *", {"nent": 2, "entries": 2})
    assert _errno(lambda: kvm.call(x.KVM_GET_SUPPORTED_CPUID, cpuid)) == errno.E2BIG
    entries = supported_cpuid(kvm)
    assert entries[0][0] == 0 and any(entry[0] == 1 for entry in entries)


def test_cpuid_can_only_be_repeated_after_kvm_run(kvm):
    vmfd = kvm.create_vm()
    vcpu = vmfd.create_vcpu(0)
    entries = supported_cpuid(kvm)
    set_cpuid(vcpu, entries)
    vcpu.run()
    set_cpuid(vcpu, entries)  # the same CPUID again is accepted
    changed = [(0x1, 0, 0, 0, 0, 0, 0)] + entries[1:]
    assert _errno(lambda: set_cpuid(vcpu, changed)) == errno.EINVAL


def test_too_many_cpuid_entries_is_e2big(kvm):
    vcpu = kvm.create_vm().create_vcpu(0)
    assert _errno(lambda: set_cpuid(vcpu, [(0, 0, 0, 0, 0, 0, 0)] * 257)) == errno.E2BIG


def test_set_msrs_stops_at_an_unknown_msr(kvm):
    vcpu = kvm.create_vm().create_vcpu(0)
    set_msrs(vcpu)  # every boot MSR is known
    with pytest.raises(Exception, match="refused to set MSR 0xdead"):
        set_msrs(vcpu, ((0x10, 0), (0xDEAD, 1)))


@pytest.mark.parametrize("cr0, cr4, efer, why", [
    (1 << 31, 0, 0, "PG without PE"),
    ((1 << 29) | 1, 0, 0, "NW without CD"),
    ((1 << 31) | 1, 0, (1 << 8) | (1 << 10), "long mode without PAE"),
    (1, 0, 1 << 10, "LMA outside long mode"),
])
def test_set_sregs_refuses_what_the_kernel_refuses(kvm, cr0, cr4, efer, why):
    vcpu = kvm.create_vm().create_vcpu(0)
    sregs = ffi.new("struct kvm_sregs *")
    vcpu.call(x.KVM_GET_SREGS, sregs)
    sregs.cr0, sregs.cr4, sregs.efer = cr0, cr4, efer
    assert _errno(lambda: vcpu.call(x.KVM_SET_SREGS, sregs)) == errno.EINVAL, why


def test_reset_state_is_real_mode_at_the_reset_vector(kvm):
    vcpu = kvm.create_vm().create_vcpu(0)
    regs = ffi.new("struct kvm_regs *")
    sregs = ffi.new("struct kvm_sregs *")
    vcpu.call(x.KVM_GET_REGS, regs)
    vcpu.call(x.KVM_GET_SREGS, sregs)
    assert (regs.rip, regs.rflags) == (0xFFF0, 2)
    assert (sregs.cs.selector, sregs.cs.base) == (0xF000, 0xFFFF0000)
    assert sregs.cr0 == 0x60000010


def test_an_ioctl_with_the_wrong_size_is_enotty(kvm):
    vcpu = kvm.create_vm().create_vcpu(0)
    wrong = Ioctl("KVM_GET_REGS", x.KVM_GET_REGS.number + (8 << 16))  # 8 bytes too big
    assert _errno(lambda: vcpu.call(wrong, ffi.new("uint8_t[200]"))) == errno.ENOTTY


def test_aps_wait_for_sipi_with_an_in_kernel_irqchip(kvm):
    vmfd = kvm.create_vm()
    vmfd.create_irqchip()
    states = []
    for vcpu_id in range(2):
        vcpu = vmfd.create_vcpu(vcpu_id)
        mp_state = ffi.new("struct kvm_mp_state *")
        vcpu.call(x.KVM_GET_MP_STATE, mp_state)
        states.append(mp_state.mp_state)
    assert states == [0, 1]  # RUNNABLE, UNINITIALIZED
