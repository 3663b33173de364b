"""The realm's KVM calls, as the RFC-v1 kvmtool makes them (the VMM's side).

Each function packs its argument with the realm FFI (:mod:`.abi`), issues the
ioctl, and lets a failure surface as a ``KvmError`` naming the realm step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vmm.core.kvm import ioctls as k

from . import uapi
from .abi import ffi

if TYPE_CHECKING:  # pragma: no cover
    from vmm.core.kvm.fds import VcpuFd, VmFd

    from .options import RealmSettings


def _enable_rme(vmfd: VmFd, command: int, argument: Any = None, what: str = "") -> None:
    """KVM_ENABLE_CAP(KVM_CAP_ARM_RME, command, &argument)."""
    cap = ffi.new("struct kvm_enable_cap *")
    cap.cap = uapi.KVM_CAP_ARM_RME
    cap.args[0] = command
    if argument is not None:
        cap.args[1] = int(ffi.cast("uintptr_t", argument))
    step = what or uapi.RME_SUBCOMMAND_NAMES[command]
    vmfd.call(k.KVM_ENABLE_CAP, cap, hint=f"KVM_CAP_ARM_RME {step}")


def _config_item(cfg: int) -> Any:
    item = ffi.new("struct kvm_cap_arm_rme_config_item *")
    item.cfg = cfg
    return item


def configure_realm(vmfd: VmFd, settings: RealmSettings) -> None:
    """CONFIG_REALM items in kvmtool's order: HASH_ALGO, then RPV and SVE if given."""
    item = _config_item(uapi.RME_CFG_HASH_ALGO)
    item.hash_algo = settings.hash_algo.value
    _enable_rme(vmfd, uapi.RME_CONFIG_REALM, item, "CONFIG_REALM(HASH_ALGO)")
    if settings.rpv is not None:
        item = _config_item(uapi.RME_CFG_RPV)
        ffi.memmove(item.rpv, settings.rpv, len(settings.rpv))
        _enable_rme(vmfd, uapi.RME_CONFIG_REALM, item, "CONFIG_REALM(RPV)")
    if settings.sve_vq is not None:
        item = _config_item(uapi.RME_CFG_SVE)
        item.sve_vq = settings.sve_vq
        _enable_rme(vmfd, uapi.RME_CONFIG_REALM, item, "CONFIG_REALM(SVE)")


def create_realm_descriptor(vmfd: VmFd) -> None:
    """CREATE_RD: the RMM creates the realm; no vCPU may exist yet."""
    _enable_rme(vmfd, uapi.RME_CREATE_RD)


def init_ipa_realm(vmfd: VmFd, base: int, size: int) -> None:
    """INIT_IPA_REALM: RIPAS RAM over ``size`` bytes from ``base``."""
    args = ffi.new("struct kvm_cap_arm_rme_init_ipa_args *")
    args.init_ipa_base = base
    args.init_ipa_size = size
    _enable_rme(vmfd, uapi.RME_INIT_IPA_REALM, args)


def populate_realm(vmfd: VmFd, base: int, size: int) -> None:
    """POPULATE_REALM: copy and measure ``size`` bytes (whole pages) from ``base``."""
    args = ffi.new("struct kvm_cap_arm_rme_populate_realm_args *")
    args.populate_ipa_base = base
    args.populate_ipa_size = size
    _enable_rme(vmfd, uapi.RME_POPULATE_REALM, args)


def activate_realm(vmfd: VmFd) -> None:
    """ACTIVATE_REALM: seal the contents; the vCPUs may run from now on."""
    _enable_rme(vmfd, uapi.RME_ACTIVATE_REALM)


def finalize_rec(fd: VcpuFd) -> None:
    """KVM_ARM_VCPU_FINALIZE(KVM_ARM_VCPU_REC): create the vCPU's REC."""
    from vmm.plugins.arm64.uapi import KVM_ARM_VCPU_FINALIZE

    feature = ffi.new("int *", uapi.KVM_ARM_VCPU_REC)
    fd.call(KVM_ARM_VCPU_FINALIZE, feature, hint="KVM_ARM_VCPU_REC")


class AbortInjector:
    """Injects synchronous external aborts into one vCPU (an unclaimed MMIO access).

    The ``kvm_vcpu_events`` struct is allocated once per vCPU, not per exit.
    """

    def __init__(self, fd: VcpuFd) -> None:
        from vmm.plugins.arm64.uapi import KVM_SET_VCPU_EVENTS

        self._fd = fd
        self._ioctl = KVM_SET_VCPU_EVENTS
        self._events = ffi.new("struct kvm_vcpu_events *")
        self._events.exception.ext_dabt_pending = 1

    def inject(self) -> None:
        """KVM_SET_VCPU_EVENTS with only ``ext_dabt_pending`` set."""
        self._fd.call(self._ioctl, self._events, hint="injecting an SEA")
