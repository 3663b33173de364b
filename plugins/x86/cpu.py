"""Per-vCPU x86 set-up: CPUID from KVM_GET_SUPPORTED_CPUID and the MSRs Linux needs."""

from __future__ import annotations

from typing import Any

from vmm.core.errors import VmmError
from vmm.core.kvm.fds import Kvm, VcpuFd

from . import uapi as x
from .uapi import ffi

CPUID_LEAF_FEATURES = 0x1
CPUID_LEAF_TOPOLOGY = 0xB
CPUID_LEAF_TOPOLOGY_V2 = 0x1F
CPUID_1_ECX_HYPERVISOR = 1 << 31
CPUID_1_EBX_APIC_ID_SHIFT = 24

MSR_IA32_TSC = 0x10
MSR_IA32_SYSENTER_CS = 0x174
MSR_IA32_SYSENTER_ESP = 0x175
MSR_IA32_SYSENTER_EIP = 0x176
MSR_IA32_MISC_ENABLE = 0x1A0
MSR_MTRR_DEF_TYPE = 0x2FF
MSR_STAR = 0xC0000081
MSR_LSTAR = 0xC0000082
MSR_CSTAR = 0xC0000083
MSR_SYSCALL_MASK = 0xC0000084
MSR_KERNEL_GS_BASE = 0xC0000102

MISC_ENABLE_FAST_STRING = 1 << 0
MTRR_ENABLE = 1 << 11
MTRR_TYPE_WRITEBACK = 6

#: (MSR, value) written to every vCPU before it first runs, as a BIOS leaves them.
BOOT_MSRS = (
    (MSR_IA32_SYSENTER_CS, 0),
    (MSR_IA32_SYSENTER_ESP, 0),
    (MSR_IA32_SYSENTER_EIP, 0),
    (MSR_STAR, 0),
    (MSR_CSTAR, 0),
    (MSR_KERNEL_GS_BASE, 0),
    (MSR_SYSCALL_MASK, 0),
    (MSR_LSTAR, 0),
    (MSR_IA32_TSC, 0),
    (MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING),
    (MSR_MTRR_DEF_TYPE, MTRR_ENABLE | MTRR_TYPE_WRITEBACK),
)


def supported_cpuid(kvm: Kvm) -> list[tuple[int, ...]]:
    """KVM_GET_SUPPORTED_CPUID as (function, index, flags, eax, ebx, ecx, edx) tuples."""
    count = x.CPUID_MAX_ENTRIES
    cpuid = ffi.new("struct kvm_cpuid2 *", {"nent": count, "entries": count})
    kvm.call(x.KVM_GET_SUPPORTED_CPUID, cpuid)
    return [
        (e.function, e.index, e.flags, e.eax, e.ebx, e.ecx, e.edx)
        for e in (cpuid.entries[i] for i in range(cpuid.nent))
    ]


def vcpu_cpuid(entries: list[tuple[int, ...]], vcpu_id: int) -> list[tuple[int, ...]]:
    """The CPUID a vCPU gets: the supported set with its own APIC ids and the
    hypervisor bit."""
    result: list[tuple[int, ...]] = []
    for function, index, flags, eax, ebx, ecx, edx in entries:
        if function == CPUID_LEAF_FEATURES:
            apic_id = (vcpu_id & 0xFF) << CPUID_1_EBX_APIC_ID_SHIFT  # 8 bits; x2APIC has all
            ebx = (ebx & ~(0xFF << CPUID_1_EBX_APIC_ID_SHIFT)) | apic_id
            ecx |= CPUID_1_ECX_HYPERVISOR
        elif function in (CPUID_LEAF_TOPOLOGY, CPUID_LEAF_TOPOLOGY_V2):
            edx = vcpu_id  # x2APIC id
        result.append((function, index, flags, eax, ebx, ecx, edx))
    return result


def set_cpuid(fd: VcpuFd, entries: list[tuple[int, ...]]) -> None:
    """KVM_SET_CPUID2 with ``entries``."""
    cpuid = ffi.new("struct kvm_cpuid2 *", {"nent": len(entries), "entries": len(entries)})
    for slot, (function, index, flags, eax, ebx, ecx, edx) in zip(cpuid.entries, entries, strict=True):
        slot.function, slot.index, slot.flags = function, index, flags
        slot.eax, slot.ebx, slot.ecx, slot.edx = eax, ebx, ecx, edx
    fd.call(x.KVM_SET_CPUID2, cpuid)


def set_msrs(fd: VcpuFd, msrs: tuple[tuple[int, int], ...] = BOOT_MSRS) -> None:
    """KVM_SET_MSRS; the kernel stops at the first MSR it refuses, named here."""
    arg: Any = ffi.new("struct kvm_msrs *", {"nmsrs": len(msrs), "entries": len(msrs)})
    for slot, (index, value) in zip(arg.entries, msrs, strict=True):
        slot.index = index
        slot.data = value
    done = fd.call(x.KVM_SET_MSRS, arg)
    if done != len(msrs):
        raise VmmError(f"KVM refused to set MSR {msrs[done][0]:#x} on vCPU {fd.vcpu_id}")
