"""The v7 realm structures, declared once as cffi cdef text (the VMM's side).

Checked against the kit's uapi headers (``arch/arm64/include/uapi/asm/kvm.h`` of
cca-host/v7); the model of KVM decodes the same bytes with its own ``struct``
formats (:mod:`..model.formats`).
"""

from __future__ import annotations

from vmm.core.kvm.ffiload import load_ffi
from vmm.core.kvm.ioc import IoctlTable
from vmm.plugins.arm64 import uapi as arm64_uapi

from .uapi import KVM_ARM_VCPU_RMM_PSCI_COMPLETE_NR

RME_CDEF = """
struct arm_rme_config {
    uint32_t cfg;
    union {
        /* cfg == ARM_RME_CONFIG_RPV */
        struct { uint8_t rpv[64]; };
        /* cfg == ARM_RME_CONFIG_HASH_ALGO */
        struct { uint32_t hash_algo; };
        /* fixes the size of the union */
        uint8_t reserved[256];
    };
};

struct arm_rme_populate_realm {
    uint64_t base;
    uint64_t size;
    uint32_t flags;
    uint32_t reserved[3];
};

struct arm_rme_init_ripas {
    uint64_t base;
    uint64_t size;
    uint64_t reserved[2];
};

struct kvm_arm_rmm_psci_complete {
    uint64_t target_mpidr;
    uint32_t psci_status;
    uint32_t padding[3];
};
"""

#: The v7 realm FFI: arm64's structures (which include the core's) plus these.
ffi = load_ffi("arm64_realm_v7", RME_CDEF, include=arm64_uapi.ffi)

KVM_ARM_VCPU_RMM_PSCI_COMPLETE = IoctlTable(ffi).iow(
    "KVM_ARM_VCPU_RMM_PSCI_COMPLETE", KVM_ARM_VCPU_RMM_PSCI_COMPLETE_NR,
    "struct kvm_arm_rmm_psci_complete")
