"""The realm's KVM calls as the RFC-v1 kvmtool makes them (the VMM's side).

Each function packs its argument with the RFC-v1 FFI (:mod:`.abi`) and issues it
through :func:`..calls.enable_rme`, so a failure names the realm step.
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
from .abi import ffi

if TYPE_CHECKING:  # pragma: no cover
    from vmm.core.kvm.fds import VcpuFd, VmFd

    from ..options import RealmSettings


def _enable(vmfd: VmFd, command: int, argument: Any = None, what: str = "") -> None:
    calls.enable_rme(vmfd, ffi, command, argument, what or uapi.SUBCOMMAND_NAMES[command])


def _config_item(cfg: int) -> Any:
    item = ffi.new("struct kvm_cap_arm_rme_config_item *")
    item.cfg = cfg
    return item


def configure_realm(vmfd: VmFd, settings: RealmSettings) -> None:
    """CONFIG_REALM items in kvmtool's order: HASH_ALGO, then RPV and SVE if given."""
    item = _config_item(RME_CFG_HASH_ALGO)
    item.hash_algo = settings.hash_algo.value
    _enable(vmfd, RME_CONFIG_REALM, item, "CONFIG_REALM(HASH_ALGO)")
    if settings.rpv is not None:
        item = _config_item(RME_CFG_RPV)
        ffi.memmove(item.rpv, settings.rpv, len(settings.rpv))
        _enable(vmfd, RME_CONFIG_REALM, item, "CONFIG_REALM(RPV)")
    if settings.sve_vq is not None:
        item = _config_item(uapi.RME_CFG_SVE)
        item.sve_vq = settings.sve_vq
        _enable(vmfd, RME_CONFIG_REALM, item, "CONFIG_REALM(SVE)")


def create_realm_descriptor(vmfd: VmFd) -> None:
    """CREATE_RD: the RMM creates the realm; no vCPU may exist yet."""
    _enable(vmfd, uapi.RME_CREATE_RD)


def init_ipa_realm(vmfd: VmFd, base: int, size: int) -> None:
    """INIT_IPA_REALM: RIPAS RAM over ``size`` bytes from ``base``."""
    args = ffi.new("struct kvm_cap_arm_rme_init_ipa_args *")
    args.init_ipa_base = base
    args.init_ipa_size = size
    _enable(vmfd, uapi.RME_INIT_IPA_REALM, args)


def populate_realm(vmfd: VmFd, base: int, size: int) -> None:
    """POPULATE_REALM: copy and measure ``size`` bytes (whole pages) from ``base``."""
    args = ffi.new("struct kvm_cap_arm_rme_populate_realm_args *")
    args.populate_ipa_base = base
    args.populate_ipa_size = size
    _enable(vmfd, RME_POPULATE_REALM, args)


def activate_realm(vmfd: VmFd) -> None:
    """ACTIVATE_REALM: seal the contents; the vCPUs may run from now on."""
    _enable(vmfd, RME_ACTIVATE_REALM)


def finalize_rec(fd: VcpuFd) -> None:
    """KVM_ARM_VCPU_FINALIZE(7): create the vCPU's REC."""
    calls.finalize_rec(fd, ffi, uapi.KVM_ARM_VCPU_REC)
