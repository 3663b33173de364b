"""The RFC-v1 kernel's rules for realm vCPUs (mixed into :class:`RealmModel`).

- KVM_ARM_VCPU_INIT: arm64's rules (KVM_VCPU_MAX_FEATURES is still 7 in RFC v1, so
  KVM_ARM_VCPU_REC can't be asked for here); the features are remembered, as
  FINALIZE(REC) needs PSCI_0_2.
- KVM_ARM_VCPU_FINALIZE(KVM_ARM_VCPU_REC): creates the REC from x0-x7 and PC, vCPU 0
  runnable. EINVAL on a normal VM or without PSCI_0_2, ENOENT unless the realm is NEW,
  ENOEXEC before KVM_ARM_VCPU_INIT, EPERM when the REC exists (as for SVE), ENXIO out
  of MPIDR order (the RMM's refusal).
- KVM_SET_ONE_REG: only x0-x7 and PC on a realm vCPU (PSTATE and the rest: EINVAL).
- KVM_RUN: EPERM until the vCPU has its REC and the realm is ACTIVE.
- KVM_SET_VCPU_EVENTS: SErrors are never injected into a realm; a synchronous
  external abort (ext_dabt_pending) only right after an emulated MMIO exit.
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING, Any

from vmm.core.model.base import ModelErrno
from vmm.core.model.decode import UserMemory
from vmm.core.model.runarea import EXIT_REASON, EXIT_REASONS
from vmm.core.model.state import VcpuState

from .. import uapi
from . import formats, rmi
from .realm import RealmVcpu, RmeState, realm_of
from .rmi import rmm_call

if TYPE_CHECKING:  # pragma: no cover
    from vmm.core.model.base import ArchModel

REALM_VCPU_KEY = "rme"
_EXIT_MMIO = EXIT_REASONS["mmio"]
_EXIT_REASON = struct.Struct("<I")


def realm_vcpu(vcpu: VcpuState) -> RealmVcpu:
    """The realm layer's state of a modelled vCPU."""
    return vcpu.arch.setdefault(REALM_VCPU_KEY, RealmVcpu())


class RealmVcpuRules:
    """vCPU ioctls of the realm layer; the class it is mixed into has ``inner``."""

    inner: ArchModel

    def _delegate(self, vcpu: VcpuState, name: str, arg: int) -> Any:
        """Hand a vCPU ioctl to the arm64 model."""
        return self.inner.handle(f"vcpu{vcpu.vcpu_id}", vcpu, name, arg)

    def on_kvm_arm_vcpu_init(self, vcpu: VcpuState, arg: int) -> Any:
        """arm64 initialises the vCPU; the realm layer remembers its features."""
        _target, features, *_ = UserMemory.unpack(formats.VCPU_INIT, arg)
        result = self._delegate(vcpu, "KVM_ARM_VCPU_INIT", arg)
        realm_vcpu(vcpu).features = features
        return result

    def on_kvm_arm_vcpu_finalize(self, vcpu: VcpuState, arg: int) -> Any:
        """FINALIZE(REC) creates the REC; other features are arm64's."""
        (feature,) = UserMemory.unpack(formats.FINALIZE_FEATURE, arg)
        if feature != uapi.KVM_ARM_VCPU_REC:
            return self._delegate(vcpu, "KVM_ARM_VCPU_FINALIZE", arg)
        state = realm_vcpu(vcpu)
        if state.features is None:
            raise ModelErrno(errno.ENOEXEC, "vCPU not initialised")
        realm = realm_of(vcpu.vm)
        if realm is None:
            raise ModelErrno(errno.EINVAL, "KVM_ARM_VCPU_REC on a normal VM")
        if realm.state is not RmeState.NEW:
            raise ModelErrno(errno.ENOENT, f"realm state is {realm.state.value}, not new")
        if not state.features >> uapi.KVM_ARM_VCPU_PSCI_0_2 & 1:
            raise ModelErrno(errno.EINVAL, "a REC needs KVM_ARM_VCPU_PSCI_0_2")
        if state.has_rec:
            raise ModelErrno(errno.EPERM, "REC already created")
        if vcpu.vcpu_id != len(realm.recs):
            raise ModelErrno(
                errno.ENXIO,
                f"RMM refuses REC of vCPU {vcpu.vcpu_id}: REC {len(realm.recs)} comes next "
                "(ascending MPIDR order)",
            )
        gprs = [self._register(vcpu, formats.gpr_id(n)) for n in range(formats.REC_GPRS)]
        rmm_call(rmi.rec_create, realm, vcpu.vcpu_id, self._register(vcpu, formats.PC_ID), gprs)
        state.has_rec = True
        return 0, "feature=REC"

    def _register(self, vcpu: VcpuState, reg_id: int) -> int:
        """A register's value as KVM holds it (zero after KVM_ARM_VCPU_INIT)."""
        try:
            return int.from_bytes(self.inner.get_one_reg(vcpu, reg_id, 8), "little")
        except ModelErrno as error:
            if error.errno == errno.ENOENT:
                return 0
            raise

    def set_one_reg(self, vcpu: VcpuState, reg_id: int, value: bytes) -> None:
        """A realm vCPU accepts only x0-x7 and PC."""
        if realm_of(vcpu.vm) is not None and reg_id not in formats.REALM_SETTABLE_REGS:
            what = "PSTATE" if reg_id == formats.PSTATE_ID else f"register {reg_id:#x}"
            raise ModelErrno(errno.EINVAL, f"{what} of a realm vCPU can't be set")
        self.inner.set_one_reg(vcpu, reg_id, value)

    def before_run(self, vcpu: VcpuState) -> None:
        """A realm vCPU runs only once its REC exists and the realm is active."""
        realm = realm_of(vcpu.vm)
        if realm is not None and (realm.state is not RmeState.ACTIVE
                                  or not realm_vcpu(vcpu).has_rec):
            raise ModelErrno(errno.EPERM, "realm vCPU not finalised or realm not active")
        self.inner.before_run(vcpu)

    def on_kvm_set_vcpu_events(self, vcpu: VcpuState, arg: int) -> Any:
        """A realm takes only an SEA, and only after an emulated MMIO exit."""
        if realm_of(vcpu.vm) is None:
            return self._delegate(vcpu, "KVM_SET_VCPU_EVENTS", arg)
        serror, _has_esr, ext_dabt, _esr, _reserved = UserMemory.unpack(formats.VCPU_EVENTS, arg)
        if serror:
            raise ModelErrno(errno.EINVAL, "SErrors can't be injected into a realm")
        if ext_dabt:
            (reason,) = _EXIT_REASON.unpack_from(vcpu.run_area, EXIT_REASON)
            if vcpu.runs == 0 or reason != _EXIT_MMIO:
                raise ModelErrno(errno.EINVAL, "an SEA needs an emulated MMIO exit first")
            realm_vcpu(vcpu).aborts_injected += 1
            return 0, "ext_dabt_pending=1"
        return 0
