"""The model's own reading of the realm UABI: ``struct`` formats and register ids.

Restated from the kernel headers independently of the VMM's cffi declarations
(:mod:`..abi` and arm64's), so an encoding mistake on either side shows up as the
kernel's error instead of going unnoticed.
"""

from __future__ import annotations

from vmm.core.model.decode import IoctlShape, iow

#: The config item (RFC-v1 kvm_cap_arm_rme_config_item, v7 arm_rme_config): u32 cfg,
#: then a 256-byte union.
CONFIG_ITEM = "<I256s"
#: RFC-v1 struct kvm_cap_arm_rme_init_ipa_args: base, size.
INIT_IPA_ARGS = "<QQ"
#: RFC-v1 struct kvm_cap_arm_rme_populate_realm_args: base, size.
POPULATE_ARGS = "<QQ"
#: v7 struct arm_rme_init_ripas: base, size, reserved[2].
INIT_RIPAS_ARGS_V7 = "<QQ16s"
#: v7 struct arm_rme_populate_realm: base, size, flags, reserved[3].
POPULATE_ARGS_V7 = "<QQI12s"
#: v7 struct kvm_arm_rmm_psci_complete: target_mpidr, psci_status, padding[3].
PSCI_COMPLETE_V7 = "<QI12s"
#: The union member of a config item that holds a u32 (hash_algo, sve_vq, ...).
CONFIG_U32 = "<I"
#: struct kvm_vcpu_events (arm64): serror_pending, serror_has_esr, ext_dabt_pending,
#: 5 bytes of padding, serror_esr, reserved[12].
VCPU_EVENTS = "<BBB5xQ48s"
#: struct kvm_vcpu_init: target, features[7].
VCPU_INIT = "<I7I"
#: KVM_ARM_VCPU_FINALIZE takes a pointer to an int.
FINALIZE_FEATURE = "<i"

KVM_SET_VCPU_EVENTS = iow("KVM_SET_VCPU_EVENTS", VCPU_EVENTS)
KVM_ARM_VCPU_INIT = iow("KVM_ARM_VCPU_INIT", VCPU_INIT)
KVM_ARM_VCPU_FINALIZE = iow("KVM_ARM_VCPU_FINALIZE", FINALIZE_FEATURE)
KVM_ARM_VCPU_RMM_PSCI_COMPLETE = iow("KVM_ARM_VCPU_RMM_PSCI_COMPLETE", PSCI_COMPLETE_V7)

#: The realm layer's vCPU ioctls, by request nr (include/uapi/linux/kvm.h).
VCPU_IOCTLS: dict[int, IoctlShape] = {
    0xA0: KVM_SET_VCPU_EVENTS,
    0xAE: KVM_ARM_VCPU_INIT,
    0xC2: KVM_ARM_VCPU_FINALIZE,
}
#: The v7 kernel's own vCPU ioctl.
V7_VCPU_IOCTLS: dict[int, IoctlShape] = {0xD2: KVM_ARM_VCPU_RMM_PSCI_COMPLETE}

# ONE_REG ids of arm64 core registers: KVM_REG_ARM64 | KVM_REG_SIZE_U64 |
# KVM_REG_ARM_CORE | (offset in struct kvm_regs / 4).
_CORE_REG_BASE = 0x6000_0000_0000_0000 | 0x0030_0000_0000_0000 | 0x0010_0000
_U64_WORDS = 2
#: regs.regs[31] and sp come before pc in struct kvm_regs (user_pt_regs).
_PC_INDEX = 32 * _U64_WORDS
_PSTATE_INDEX = 33 * _U64_WORDS
#: x0..x7: the general purpose registers a REC's parameters carry.
REC_GPRS = 8


def core_reg_id(word_index: int) -> int:
    """The ONE_REG id of the core register at 32-bit word ``word_index``."""
    return _CORE_REG_BASE | word_index


def gpr_id(number: int) -> int:
    """The ONE_REG id of x<number>."""
    return core_reg_id(number * _U64_WORDS)


PC_ID = core_reg_id(_PC_INDEX)
PSTATE_ID = core_reg_id(_PSTATE_INDEX)
#: ID_AA64DFR0_EL1 and PMCR_EL0 (KVM_REG_ARM64 | SIZE_U64 | SYSREG | op0..op2), and
#: KVM_REG_ARM64_SVE_VLS (SIZE_U512, the SVE coprocessor, index 0xffff).
DFR0_ID = 0x6030_0000_0013_C028
PMCR_ID = 0x6030_0000_0013_DCE0
SVE_VLS_ID = 0x6060_0000_0015_FFFF
DFR0_BRPS_SHIFT, DFR0_WRPS_SHIFT, PMCR_N_SHIFT = 12, 20, 11


def settable_core_regs(gprs: int) -> frozenset[int]:
    """x0 .. x<gprs - 1> and PC: the core registers a realm vCPU takes."""
    return frozenset([*(gpr_id(n) for n in range(gprs)), PC_ID])
