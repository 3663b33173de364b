"""What is particular to the v7 realm UABI (linux-cca ``cca-host/v7``, the kit's
kernel; ../shared/cca/reference/README.md and its uapi/ headers)."""

from __future__ import annotations

from ..uapi import (
    RME_ACTIVATE_REALM,
    RME_CFG_HASH_ALGO,
    RME_CFG_RPV,
    RME_CONFIG_REALM,
    RME_CREATE,
    RME_INIT,
    RME_POPULATE_REALM,
)

RME_CREATE_REALM = RME_CREATE
RME_INIT_RIPAS_REALM = RME_INIT

SUBCOMMAND_NAMES = {
    RME_CONFIG_REALM: "CONFIG_REALM",
    RME_CREATE_REALM: "CREATE_REALM",
    RME_INIT_RIPAS_REALM: "INIT_RIPAS_REALM",
    RME_POPULATE_REALM: "POPULATE_REALM",
    RME_ACTIVATE_REALM: "ACTIVATE_REALM",
}

#: arm_rme_config.cfg: only these two remain (SVE, debug and PMU are vCPU registers).
CFG_NAMES = {RME_CFG_RPV: "RPV", RME_CFG_HASH_ALGO: "HASH_ALGO"}

#: arm_rme_populate_realm.flags: measure the contents (RMI_MEASURE_CONTENT).
POPULATE_FLAGS_MEASURE = 1 << 0

#: The vCPU feature asked for at KVM_ARM_VCPU_INIT and finalized to create the REC.
KVM_ARM_VCPU_REC = 8
#: KVM_VCPU_MAX_FEATURES of the v7 kernel (REC is the last).
KVM_VCPU_MAX_FEATURES = 9

#: x0-x30 and PC: the core registers KVM_SET_ONE_REG takes on a realm vCPU.
SETTABLE_GPRS = 31

#: The vCPU ioctl that completes a PSCI call user space handled (_IOW(KVMIO, 0xd2, 24 B)).
KVM_ARM_VCPU_RMM_PSCI_COMPLETE_NR = 0xD2
