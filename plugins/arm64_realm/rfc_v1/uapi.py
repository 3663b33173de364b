"""What is particular to the RFC-v1 realm UABI (linux-cca ``cca-host/rfc-v1``,
kvmtool ``cca/rfc-v1``; rme-rfc-v1-uabi §1)."""

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

RME_CREATE_RD = RME_CREATE
RME_INIT_IPA_REALM = RME_INIT

SUBCOMMAND_NAMES = {
    RME_CONFIG_REALM: "CONFIG_REALM",
    RME_CREATE_RD: "CREATE_RD",
    RME_INIT_IPA_REALM: "INIT_IPA_REALM",
    RME_POPULATE_REALM: "POPULATE_REALM",
    RME_ACTIVATE_REALM: "ACTIVATE_REALM",
}

# kvm_cap_arm_rme_config_item.cfg beyond RPV and HASH_ALGO (DBG and PMU are defined
# but the RFC-v1 kernel refuses them).
RME_CFG_SVE = 2
RME_CFG_DBG = 3
RME_CFG_PMU = 4

CFG_NAMES = {
    RME_CFG_RPV: "RPV",
    RME_CFG_HASH_ALGO: "HASH_ALGO",
    RME_CFG_SVE: "SVE",
    RME_CFG_DBG: "DBG",
    RME_CFG_PMU: "PMU",
}

#: The int argument of KVM_ARM_VCPU_FINALIZE that creates the vCPU's REC. KVM's
#: KVM_VCPU_MAX_FEATURES is still 7, so it can't be asked for at KVM_ARM_VCPU_INIT.
KVM_ARM_VCPU_REC = 7

#: x0-x7 and PC: the registers KVM_SET_ONE_REG takes on a realm vCPU.
SETTABLE_GPRS = 8
