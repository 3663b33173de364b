"""The RFC-v1 realm structures, declared once as cffi cdef text (the VMM's side).

Sizes and offsets come from cffi (``kvm_cap_arm_rme_config_item`` is 260 bytes: a
``cfg`` word and a 256-byte union). The model of KVM decodes the same bytes with its
own ``struct`` formats (:mod:`..model.formats`), so the two check each other.
"""

from __future__ import annotations

from vmm.core.kvm.ffiload import load_ffi
from vmm.plugins.arm64 import uapi as arm64_uapi

RME_CDEF = """
struct kvm_cap_arm_rme_config_item {
    uint32_t cfg;
    union {
        /* cfg == KVM_CAP_ARM_RME_CFG_RPV */
        struct { uint8_t rpv[64]; };
        /* cfg == KVM_CAP_ARM_RME_CFG_HASH_ALGO */
        struct { uint32_t hash_algo; };
        /* cfg == KVM_CAP_ARM_RME_CFG_SVE */
        struct { uint32_t sve_vq; };
        /* cfg == KVM_CAP_ARM_RME_CFG_DBG */
        struct { uint32_t num_brps; uint32_t num_wrps; };
        /* cfg == KVM_CAP_ARM_RME_CFG_PMU */
        struct { uint32_t num_pmu_cntrs; };
        /* fixes the size of the union */
        uint8_t reserved[256];
    };
};

struct kvm_cap_arm_rme_init_ipa_args {
    uint64_t init_ipa_base;
    uint64_t init_ipa_size;
};

struct kvm_cap_arm_rme_populate_realm_args {
    uint64_t populate_ipa_base;
    uint64_t populate_ipa_size;
};
"""

#: The realm FFI: arm64's structures (which include the core's) plus the RME ones.
ffi = load_ffi("arm64_realm_rfc_v1", RME_CDEF, include=arm64_uapi.ffi)
