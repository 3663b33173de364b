"""Constants both realm host UABIs share (RFC-v1 and v7: linux-cca ``cca-host/rfc-v1``
and ``cca-host/v7``), and the helpers both use.

Plain numbers shared by the VMM side and the model of KVM; no cffi here, so the model
can use them without touching the encoder's struct tables. What differs between the
generations (sub-command names, config items, the REC feature, struct layouts) lives
in :mod:`.rfc_v1` and :mod:`.v7`.
"""

from __future__ import annotations

from vmm.core import layout
from vmm.plugins.arm64.uapi import (  # noqa: F401  (arm64's, used by the realm model)
    KVM_ARM_VCPU_PMU_V3,
    KVM_ARM_VCPU_PSCI_0_2,
    KVM_ARM_VCPU_SVE,
    KVM_CAP_ARM_SVE,
    KVM_CAP_STEAL_TIME,
)

#: KVM_ENABLE_CAP capability number of the realm interface (RFC-v1 to v7: "FIXME: Large
#: number to prevent conflicts"); KVM_CHECK_EXTENSION(it) is 1 on a kernel with an RMM.
KVM_CAP_ARM_RME = 300

# args[0] of KVM_ENABLE_CAP(KVM_CAP_ARM_RME): the same numbers in both generations
# (1 and 2 are renamed in v7: CREATE_RD -> CREATE_REALM, INIT_IPA -> INIT_RIPAS).
RME_CONFIG_REALM = 0
RME_CREATE = 1
RME_INIT = 2
RME_POPULATE_REALM = 3
RME_ACTIVATE_REALM = 4

# Configuration items both generations accept.
RME_CFG_RPV = 0
RME_CFG_HASH_ALGO = 1

# Hash algorithm values (the same encoding as RMI_HASH_*).
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

#: virtio feature bit a realm forces: the device must use the platform's DMA API.
VIRTIO_F_ACCESS_PLATFORM = 33

#: mlock2 flag: lock pages as they are faulted in.
MLOCK_ONFAULT = 1

#: kvmtool's FDT_MAX_SIZE: the device tree window populated into a realm.
FDT_MAX_SIZE = 0x10000

#: Granule the RMM works in (both generations support 4 KiB host pages only).
REALM_PAGE_SIZE = 0x1000


def align_down(value: int, alignment: int = REALM_PAGE_SIZE) -> int:
    """``value`` rounded down to a multiple of ``alignment`` (default: a granule)."""
    return layout.align_down(value, alignment)


def align_up(value: int, alignment: int = REALM_PAGE_SIZE) -> int:
    """``value`` rounded up to a multiple of ``alignment`` (default: a granule)."""
    return layout.align_up(value, alignment)
