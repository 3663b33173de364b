"""The realm's KVM calls through the v7 UABI (the VMM's side).

Each function packs its argument with the v7 FFI (:mod:`.abi`): 260-byte config
items (RPV and hash algorithm only), 32-byte INIT_RIPAS and POPULATE arguments, the
latter with its MEASURE flag.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import calls
from ..uapi import (
    RME_ACTIVATE_REALM,
    RME_CFG_HASH_ALGO,
    RME_CFG_RPV,
    RME_CONFIG_REALM,
    RME_POPULATE_REALM,
)
from . import uapi
from .abi import KVM_ARM_VCPU_RMM_PSCI_COMPLETE, ffi

if TYPE_CHECKING:  # pragma: no cover
    from vmm.core.kvm.fds import VcpuFd, VmFd

    from ..options import RealmSettings

#: KVM_REG_ARM64_SVE_VLS: a 512-bit bitmap of the SVE vector lengths (bit n: VQ n + 1).
SVE_VLS_ID = 0x6060_0000_0015_FFFF
SVE_VLS_BYTES = 64


def _enable(vmfd: VmFd, command: int, argument: Any = None, what: str = "") -> None:
    calls.enable_rme(vmfd, ffi, command, argument, what or uapi.SUBCOMMAND_NAMES[command])


def configure_realm(vmfd: VmFd, settings: RealmSettings) -> None:
    """CONFIG_REALM: HASH_ALGO, then the RPV if given (kvmtool cca/v2's order)."""
    item = ffi.new("struct arm_rme_config *", {"cfg": RME_CFG_HASH_ALGO})
    item.hash_algo = settings.hash_algo.value
    _enable(vmfd, RME_CONFIG_REALM, item, "CONFIG_REALM(HASH_ALGO)")
    if settings.rpv is not None:
        item = ffi.new("struct arm_rme_config *", {"cfg": RME_CFG_RPV})
        ffi.memmove(item.rpv, settings.rpv, len(settings.rpv))
        _enable(vmfd, RME_CONFIG_REALM, item, "CONFIG_REALM(RPV)")


def create_realm(vmfd: VmFd) -> None:
    """CREATE_REALM: the RMM creates the realm from the vCPUs' ID registers."""
    _enable(vmfd, uapi.RME_CREATE_REALM)


def init_ripas_realm(vmfd: VmFd, base: int, size: int) -> None:
    """INIT_RIPAS_REALM: RIPAS RAM over ``size`` bytes from ``base`` (whole granules)."""
    args = ffi.new("struct arm_rme_init_ripas *", {"base": base, "size": size})
    _enable(vmfd, uapi.RME_INIT_RIPAS_REALM, args)


def populate_realm(vmfd: VmFd, base: int, size: int, measure: bool = True) -> None:
    """POPULATE_REALM: copy ``size`` bytes (whole pages) from ``base`` into the realm,
    measured when ``measure`` (the MEASURE flag)."""
    flags = uapi.POPULATE_FLAGS_MEASURE if measure else 0
    args = ffi.new("struct arm_rme_populate_realm *", {"base": base, "size": size, "flags": flags})
    _enable(vmfd, RME_POPULATE_REALM, args)


def activate_realm(vmfd: VmFd) -> None:
    """ACTIVATE_REALM: seal the contents; the vCPUs may run from now on."""
    _enable(vmfd, RME_ACTIVATE_REALM)


def finalize_rec(fd: VcpuFd) -> None:
    """KVM_ARM_VCPU_FINALIZE(8): create the vCPU's REC from x0-x7 and PC."""
    calls.finalize_rec(fd, ffi, uapi.KVM_ARM_VCPU_REC)


def psci_complete(fd: VcpuFd, target_mpidr: int, status: int) -> None:
    """KVM_ARM_VCPU_RMM_PSCI_COMPLETE: finish a PSCI CPU_ON or AFFINITY_INFO that user
    space handled, for the vCPU of ``target_mpidr``, with PSCI ``status``."""
    arg = ffi.new("struct kvm_arm_rmm_psci_complete *",
                  {"target_mpidr": target_mpidr, "psci_status": status & 0xFFFF_FFFF})
    fd.call(KVM_ARM_VCPU_RMM_PSCI_COMPLETE, arg, hint=f"target MPIDR {target_mpidr:#x}")


def limit_sve_vector_lengths(fd: VcpuFd, max_vq: int) -> bool:
    """Offer the vCPU the host's SVE vector lengths up to ``max_vq`` quadwords
    (KVM_REG_ARM64_SVE_VLS); False when the host has no vectors that long."""
    available = fd.get_one_reg(SVE_VLS_ID, SVE_VLS_BYTES)
    if not available >> (max_vq - 1) & 1:
        return False
    fd.set_one_reg(SVE_VLS_ID, available & ((1 << max_vq) - 1), SVE_VLS_BYTES)
    return True
