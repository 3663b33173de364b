"""The arm64 KVM UAPI (arch/arm64/include/uapi/asm/kvm.h): structs, ioctls, constants.

Structs are declared once, as cffi cdef text, in an FFI that includes the core's;
ioctl numbers come from :class:`~vmm.core.kvm.ioc.IoctlTable`, and core register ids
from ``offsetof(struct kvm_regs, ...)``. Nothing here depends on the host's
architecture: the plugin builds and tests the same on x86.
"""

from __future__ import annotations

from vmm.core.kvm import cdefs as core_cdefs
from vmm.core.kvm.ffiload import load_ffi
from vmm.core.kvm.ioc import IoctlTable

# Device attributes also work on vCPU fds (PMU, pvtime): the core's generic ioctls.
# Exits arm64 handles itself (PSCI SYSTEM_OFF, SYSTEM_RESET, crash).
from vmm.core.kvm.ioctls import (  # noqa: F401  # noqa: F401
    KVM_EXIT_SYSTEM_EVENT,
    KVM_HAS_DEVICE_ATTR,
    KVM_SET_DEVICE_ATTR,
    KVM_SYSTEM_EVENT_CRASH,
    KVM_SYSTEM_EVENT_RESET,
    KVM_SYSTEM_EVENT_SHUTDOWN,
)

# cffi has no __uint128_t; ``long double`` has its size and its 16-byte alignment on
# every LP64 Linux host vmm runs on (x86-64, arm64, riscv64), which makes
# ``fp_regs`` land where the kernel puts it. tests/arm64/test_uapi.py checks both
# against the kernel's headers.
ARM64_CDEF = """
union kvm_arm64_vreg {
    long double alignment;
    uint64_t u64[2];
};

struct user_pt_regs {
    uint64_t regs[31];
    uint64_t sp;
    uint64_t pc;
    uint64_t pstate;
};

struct user_fpsimd_state {
    union kvm_arm64_vreg vregs[32];
    uint32_t fpsr;
    uint32_t fpcr;
    uint32_t __reserved[2];
};

struct kvm_regs {
    struct user_pt_regs regs;
    uint64_t sp_el1;
    uint64_t elr_el1;
    uint64_t spsr[5];
    struct user_fpsimd_state fp_regs;
};

struct kvm_vcpu_init {
    uint32_t target;
    uint32_t features[7];
};

struct kvm_vcpu_events_exception {
    uint8_t serror_pending;
    uint8_t serror_has_esr;
    uint8_t ext_dabt_pending;
    uint8_t pad[5];
    uint64_t serror_esr;
};

struct kvm_vcpu_events {
    struct kvm_vcpu_events_exception exception;
    uint32_t reserved[12];
};
"""

ffi = load_ffi("arm64", ARM64_CDEF, include=core_cdefs.ffi)

_t = IoctlTable(ffi)

KVM_GET_VCPU_EVENTS = _t.ior("KVM_GET_VCPU_EVENTS", 0x9F, "struct kvm_vcpu_events")
KVM_SET_VCPU_EVENTS = _t.iow("KVM_SET_VCPU_EVENTS", 0xA0, "struct kvm_vcpu_events")
KVM_ARM_VCPU_INIT = _t.iow("KVM_ARM_VCPU_INIT", 0xAE, "struct kvm_vcpu_init")
KVM_ARM_PREFERRED_TARGET = _t.ior("KVM_ARM_PREFERRED_TARGET", 0xAF, "struct kvm_vcpu_init")
KVM_ARM_VCPU_FINALIZE = _t.iow("KVM_ARM_VCPU_FINALIZE", 0xC2, "int")

# Capabilities (include/uapi/linux/kvm.h).
KVM_CAP_ARM_PSCI_0_2 = 102
KVM_CAP_ARM_PMU_V3 = 126
KVM_CAP_ARM_VM_IPA_SIZE = 165
KVM_CAP_ARM_SVE = 170
KVM_CAP_ARM_PTRAUTH_ADDRESS = 171
KVM_CAP_ARM_PTRAUTH_GENERIC = 172
KVM_CAP_STEAL_TIME = 187
KVM_CAP_ARM_MTE = 205

# KVM_CREATE_VM machine type: the IPA size in the low byte.
KVM_VM_TYPE_ARM_IPA_SIZE_MASK = 0xFF

# kvm_vcpu_init.features[0] bits.
KVM_ARM_VCPU_POWER_OFF = 0
KVM_ARM_VCPU_EL1_32BIT = 1
KVM_ARM_VCPU_PSCI_0_2 = 2
KVM_ARM_VCPU_PMU_V3 = 3
KVM_ARM_VCPU_SVE = 4
KVM_ARM_VCPU_PTRAUTH_ADDRESS = 5
KVM_ARM_VCPU_PTRAUTH_GENERIC = 6
#: The number of feature bits the kernel of the RFC-v1 series knows.
KVM_VCPU_MAX_FEATURES = 7

# Device types (enum kvm_device_type).
KVM_DEV_TYPE_ARM_VGIC_V2 = 5
KVM_DEV_TYPE_ARM_VGIC_V3 = 7
KVM_DEV_TYPE_ARM_VGIC_ITS = 8

# vGIC device attributes.
KVM_DEV_ARM_VGIC_GRP_ADDR = 0
KVM_DEV_ARM_VGIC_GRP_NR_IRQS = 3
KVM_DEV_ARM_VGIC_GRP_CTRL = 4
KVM_DEV_ARM_VGIC_CTRL_INIT = 0
KVM_VGIC_V2_ADDR_TYPE_DIST = 0
KVM_VGIC_V2_ADDR_TYPE_CPU = 1
KVM_VGIC_V3_ADDR_TYPE_DIST = 2
KVM_VGIC_V3_ADDR_TYPE_REDIST = 3
KVM_VGIC_ITS_ADDR_TYPE = 4
KVM_DEV_ARM_ITS_CTRL_RESET = 4

# vCPU device attributes.
KVM_ARM_VCPU_PMU_V3_CTRL = 0
KVM_ARM_VCPU_PMU_V3_IRQ = 0
KVM_ARM_VCPU_PMU_V3_INIT = 1
KVM_ARM_VCPU_PVTIME_CTRL = 2
KVM_ARM_VCPU_PVTIME_IPA = 0

# KVM_IRQ_LINE's irq field on arm64.
KVM_ARM_IRQ_TYPE_SHIFT = 24
KVM_ARM_IRQ_TYPE_SPI = 1

# ONE_REG ids (include/uapi/linux/kvm.h and asm/kvm.h).
KVM_REG_ARM64 = 0x6000000000000000
KVM_REG_SIZE_SHIFT = 52
KVM_REG_SIZE_U32 = 2 << KVM_REG_SIZE_SHIFT
KVM_REG_SIZE_U64 = 3 << KVM_REG_SIZE_SHIFT
KVM_REG_SIZE_U128 = 4 << KVM_REG_SIZE_SHIFT
KVM_REG_ARM_COPROC_SHIFT = 16
KVM_REG_ARM_CORE = 0x0010 << KVM_REG_ARM_COPROC_SHIFT
KVM_REG_ARM64_SYSREG = 0x0013 << KVM_REG_ARM_COPROC_SHIFT
KVM_REG_ARM64_SYSREG_OP0_SHIFT = 14
KVM_REG_ARM64_SYSREG_OP1_SHIFT = 11
KVM_REG_ARM64_SYSREG_CRN_SHIFT = 7
KVM_REG_ARM64_SYSREG_CRM_SHIFT = 3
KVM_REG_ARM64_SYSREG_OP2_SHIFT = 0
