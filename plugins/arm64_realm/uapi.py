"""Constants of the RFC-v1 realm UABI (linux-cca ``cca-host/rfc-v1``, kvmtool ``cca/rfc-v1``).

Plain numbers shared by the VMM side and the model of KVM; no cffi here, so the model
can use them without touching the encoder's struct tables. Struct layouts live in
:mod:`.abi` (cffi, for the VMM) and in :mod:`.model.formats` (``struct``, for the
model), each written independently.
"""

from __future__ import annotations

from vmm.plugins.arm64.uapi import (  # noqa: F401  (arm64's, used by the realm model)
    KVM_ARM_VCPU_PSCI_0_2,
    KVM_CAP_ARM_SVE,
    KVM_CAP_ARM_VM_IPA_SIZE,
    KVM_CAP_STEAL_TIME,
)
from vmm.core import layout

#: KVM_ENABLE_CAP capability number of the RFC-v1 realm interface.
KVM_CAP_ARM_RME = 300

# args[0] of KVM_ENABLE_CAP(KVM_CAP_ARM_RME): the sub-commands.
RME_CONFIG_REALM = 0
RME_CREATE_RD = 1
RME_INIT_IPA_REALM = 2
RME_POPULATE_REALM = 3
RME_ACTIVATE_REALM = 4

RME_SUBCOMMAND_NAMES = {
    RME_CONFIG_REALM: "CONFIG_REALM",
    RME_CREATE_RD: "CREATE_RD",
    RME_INIT_IPA_REALM: "INIT_IPA_REALM",
    RME_POPULATE_REALM: "POPULATE_REALM",
    RME_ACTIVATE_REALM: "ACTIVATE_REALM",
}

# kvm_cap_arm_rme_config_item.cfg
RME_CFG_RPV = 0
RME_CFG_HASH_ALGO = 1
RME_CFG_SVE = 2
RME_CFG_DBG = 3
RME_CFG_PMU = 4

RME_CFG_NAMES = {
    RME_CFG_RPV: "RPV",
    RME_CFG_HASH_ALGO: "HASH_ALGO",
    RME_CFG_SVE: "SVE",
    RME_CFG_DBG: "DBG",
    RME_CFG_PMU: "PMU",
}

# kvm_cap_arm_rme_config_item.hash_algo values (the same encoding as RMI_HASH_*).
RME_MEASUREMENT_ALGO_SHA256 = 0
RME_MEASUREMENT_ALGO_SHA512 = 1

#: Bytes of a Realm Personalisation Value.
RME_RPV_SIZE = 64

# KVM_CREATE_VM machine type: bits 11..8 the type, bits 7..0 log2 of the IPA size.
KVM_VM_TYPE_ARM_SHIFT = 8
KVM_VM_TYPE_ARM_MASK = 0xF << KVM_VM_TYPE_ARM_SHIFT
KVM_VM_TYPE_ARM_NORMAL = 0 << KVM_VM_TYPE_ARM_SHIFT
KVM_VM_TYPE_ARM_REALM = 1 << KVM_VM_TYPE_ARM_SHIFT
KVM_VM_TYPE_ARM_IPA_SIZE_MASK = 0xFF

#: The int argument of KVM_ARM_VCPU_FINALIZE that creates the vCPU's REC.
KVM_ARM_VCPU_REC = 7

#: virtio feature bit a realm forces: the device must use the platform's DMA API.
VIRTIO_F_ACCESS_PLATFORM = 33

#: mlock2 flag: lock pages as they are faulted in.
MLOCK_ONFAULT = 1

#: kvmtool's FDT_MAX_SIZE: the device tree window populated into a realm.
FDT_MAX_SIZE = 0x10000

#: Granule the RMM works in (the RFC-v1 kernel supports 4 KiB host pages only).
REALM_PAGE_SIZE = 0x1000


def align_down(value: int, alignment: int = REALM_PAGE_SIZE) -> int:
    """``value`` rounded down to a multiple of ``alignment`` (default: a granule)."""
    return layout.align_down(value, alignment)


def align_up(value: int, alignment: int = REALM_PAGE_SIZE) -> int:
    """``value`` rounded up to a multiple of ``alignment`` (default: a granule)."""
    return layout.align_up(value, alignment)
