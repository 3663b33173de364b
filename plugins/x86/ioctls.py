"""x86 KVM ioctls (computed from the x86 FFI by IoctlTable) and x86 constants."""

from __future__ import annotations

from vmm.core.kvm.ioc import IoctlTable

from .cdefs import ffi

_t = IoctlTable(ffi)

# System fd
KVM_GET_SUPPORTED_CPUID = _t.iowr("KVM_GET_SUPPORTED_CPUID", 0x05, "struct kvm_cpuid2")

# VM fd
KVM_SET_TSS_ADDR = _t.io("KVM_SET_TSS_ADDR", 0x47)
KVM_SET_IDENTITY_MAP_ADDR = _t.iow("KVM_SET_IDENTITY_MAP_ADDR", 0x48, "uint64_t")
KVM_CREATE_PIT2 = _t.iow("KVM_CREATE_PIT2", 0x77, "struct kvm_pit_config")

# vCPU fd
KVM_GET_REGS = _t.ior("KVM_GET_REGS", 0x81, "struct kvm_regs")
KVM_SET_REGS = _t.iow("KVM_SET_REGS", 0x82, "struct kvm_regs")
KVM_GET_SREGS = _t.ior("KVM_GET_SREGS", 0x83, "struct kvm_sregs")
KVM_SET_SREGS = _t.iow("KVM_SET_SREGS", 0x84, "struct kvm_sregs")
KVM_GET_MSRS = _t.iowr("KVM_GET_MSRS", 0x88, "struct kvm_msrs")
KVM_SET_MSRS = _t.iow("KVM_SET_MSRS", 0x89, "struct kvm_msrs")
KVM_GET_FPU = _t.ior("KVM_GET_FPU", 0x8C, "struct kvm_fpu")
KVM_SET_FPU = _t.iow("KVM_SET_FPU", 0x8D, "struct kvm_fpu")
KVM_SET_CPUID2 = _t.iow("KVM_SET_CPUID2", 0x90, "struct kvm_cpuid2")
KVM_GET_MP_STATE = _t.ior("KVM_GET_MP_STATE", 0x98, "struct kvm_mp_state")
KVM_SET_MP_STATE = _t.iow("KVM_SET_MP_STATE", 0x99, "struct kvm_mp_state")
KVM_GET_VCPU_EVENTS = _t.ior("KVM_GET_VCPU_EVENTS", 0x9F, "struct kvm_vcpu_events")
KVM_SET_VCPU_EVENTS = _t.iow("KVM_SET_VCPU_EVENTS", 0xA0, "struct kvm_vcpu_events")

#: Every x86 ioctl above, by name (the header test walks it).
ALL = {value.name: value for value in list(globals().values()) if hasattr(value, "number")}

# Capabilities (KVM_CAP_*)
KVM_CAP_SET_TSS_ADDR = 4
KVM_CAP_EXT_CPUID = 7
KVM_CAP_PIT2 = 33
KVM_CAP_SET_IDENTITY_MAP_ADDR = 37

KVM_PIT_SPEAKER_DUMMY = 1
KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1
#: Entries asked of KVM_GET_SUPPORTED_CPUID (the kernel answers E2BIG when too few).
CPUID_MAX_ENTRIES = 256

KVM_MP_STATE_RUNNABLE = 0
KVM_MP_STATE_UNINITIALIZED = 1
KVM_MP_STATE_INIT_RECEIVED = 2
KVM_MP_STATE_HALTED = 3
KVM_INTERNAL_ERROR_EMULATION = 1
