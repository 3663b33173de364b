"""The v7 kernel's rules for realm vCPUs (mixed into :class:`~.v7.V7Kernel`).

- KVM_ARM_VCPU_INIT: KVM_VCPU_MAX_FEATURES is 9, so KVM_ARM_VCPU_REC (8) is asked for
  here (a realm only; EINVAL elsewhere); bit 7 (HAS_EL2, no nested virtualisation on
  this host) is EINVAL; the rest are arm64's rules.
- KVM_ARM_VCPU_FINALIZE(8): EINVAL without the REC feature, ENOENT before
  CREATE_REALM (or once active), EBUSY the second time, EINVAL without PSCI_0_2 or
  without the PMU the other vCPUs have; the REC takes x0-x7 and PC; ENXIO out of
  MPIDR order (the RMM). Feature 7 is arm64's: EINVAL.
- KVM_SET_ONE_REG: x0-x30, PC, PMCR_EL0, ID_AA64DFR0_EL1 and the SVE vector lengths
  (EPERM once the realm exists); anything else EINVAL.
- KVM_RUN: EPERM until the vCPU's REC exists and the realm is ACTIVE.
- KVM_ARM_VCPU_RMM_PSCI_COMPLETE: EPERM on a vCPU without the REC feature, EINVAL for
  an unknown target MPIDR or when the RMM has no PSCI request of that vCPU waiting.
"""

from __future__ import annotations

import errno
from typing import Any

from vmm.core.model.base import ArchModel, ModelErrno
from vmm.core.model.decode import UserMemory
from vmm.core.model.state import VcpuState
from vmm.plugins.arm64.model import mpidr_of

from .. import uapi
from ..v7 import uapi as v7
from . import formats, rmi
from .realm import RealmVm, RmeState, realm_of, realm_vcpu
from .rmi import rmm_call

#: Bit 7 of KVM_ARM_VCPU_INIT in the v7 kernel: KVM_ARM_VCPU_HAS_EL2.
HAS_EL2 = 7
EL1_32BIT = 1
#: The affinity fields of MPIDR_EL1 (kvm_mpidr_to_vcpu compares these).
MPIDR_AFFINITY = 0xFF_00FF_FFFF
_SETTABLE = formats.settable_core_regs(v7.SETTABLE_GPRS) | {
    formats.PMCR_ID, formats.DFR0_ID, formats.SVE_VLS_ID}


def vcpu_has(vcpu: VcpuState, feature: int) -> bool:
    """Whether the vCPU was initialised with ``feature``."""
    return bool((realm_vcpu(vcpu).features or 0) >> feature & 1)


class V7VcpuRules:
    """vCPU ioctls of the v7 kernel; the class it is mixed into has ``inner``."""

    inner: ArchModel

    def vcpu_init(self, vcpu: VcpuState, arg: int) -> Any:
        target, *words = UserMemory.unpack(formats.VCPU_INIT, arg)
        features = words[0]
        if any(words[1:]) or features >> v7.KVM_VCPU_MAX_FEATURES:
            raise ModelErrno(errno.ENOENT, "unknown vCPU feature bits")
        rec = features >> v7.KVM_ARM_VCPU_REC & 1
        if features >> HAS_EL2 & 1:
            raise ModelErrno(errno.EINVAL, "no nested virtualisation (KVM_ARM_VCPU_HAS_EL2)")
        if rec and (realm_of(vcpu.vm) is None or features >> EL1_32BIT & 1):
            raise ModelErrno(errno.EINVAL, "KVM_ARM_VCPU_REC: a 64-bit vCPU of a realm only")
        arm64_words = [features & ~(1 << v7.KVM_ARM_VCPU_REC), *words[1:]]
        self.inner.init_vcpu(vcpu, target, arm64_words)  # type: ignore[attr-defined]
        realm_vcpu(vcpu).features = features
        return 0, f"target={target} features={features:#x}"

    def finalize_rec(self, vcpu: VcpuState) -> Any:
        realm = realm_of(vcpu.vm)
        state = realm_vcpu(vcpu)
        if realm is None or not vcpu_has(vcpu, v7.KVM_ARM_VCPU_REC):
            raise ModelErrno(errno.EINVAL, "not a REC: KVM_ARM_VCPU_REC was not asked at init")
        if realm.state is not RmeState.NEW:
            raise ModelErrno(errno.ENOENT, f"realm state is {realm.state.value}, not new")
        if state.has_rec:
            raise ModelErrno(errno.EBUSY, "REC already created")
        if not vcpu_has(vcpu, uapi.KVM_ARM_VCPU_PSCI_0_2):
            raise ModelErrno(errno.EINVAL, "a REC needs KVM_ARM_VCPU_PSCI_0_2")
        with_pmu = any(vcpu_has(other, uapi.KVM_ARM_VCPU_PMU_V3) for other in vcpu.vm.vcpus.values())
        if with_pmu and not vcpu_has(vcpu, uapi.KVM_ARM_VCPU_PMU_V3):
            raise ModelErrno(errno.EINVAL, "the realm has a PMU and this vCPU has none")
        gprs = [self.register(vcpu, formats.gpr_id(n)) for n in range(formats.REC_GPRS)]  # type: ignore[attr-defined]
        pc = self.register(vcpu, formats.PC_ID)  # type: ignore[attr-defined]
        rmm_call(rmi.rec_create, realm, vcpu.vcpu_id, pc, gprs)
        state.has_rec = True
        return 0, "feature=REC"

    def settable(self, vcpu: VcpuState, reg_id: int) -> bool:
        if reg_id == formats.SVE_VLS_ID:
            realm = realm_of(vcpu.vm)
            if realm is not None and realm.state is not RmeState.NONE:
                raise ModelErrno(errno.EPERM, "SVE vector lengths after CREATE_REALM")
        return reg_id in _SETTABLE

    def before_run(self, vcpu: VcpuState, realm: RealmVm) -> None:
        """KVM_RUN: the vCPU's REC exists and the realm is active, else EPERM."""
        if realm.state is not RmeState.ACTIVE or not realm_vcpu(vcpu).has_rec:
            raise ModelErrno(errno.EPERM, "realm vCPU not finalised or realm not active")

    def psci_complete(self, vcpu: VcpuState, arg: int) -> Any:
        target_mpidr, status, _ = UserMemory.unpack(formats.PSCI_COMPLETE_V7, arg)
        if not vcpu_has(vcpu, v7.KVM_ARM_VCPU_REC):
            raise ModelErrno(errno.EPERM, "not a REC")
        target = next((other for other in vcpu.vm.vcpus.values()
                       if mpidr_of(other.vcpu_id) & MPIDR_AFFINITY == target_mpidr & MPIDR_AFFINITY),
                      None)
        if target is None:
            raise ModelErrno(errno.EINVAL, f"no vCPU with MPIDR {target_mpidr:#x}")
        source = realm_vcpu(vcpu)
        if not source.has_rec or not realm_vcpu(target).has_rec \
                or source.psci_pending is None \
                or source.psci_pending & MPIDR_AFFINITY != target_mpidr & MPIDR_AFFINITY:
            raise ModelErrno(errno.EINVAL, "the RMM has no such PSCI request waiting")
        source.psci_pending = None
        return 0, f"target_mpidr={target_mpidr:#x} status={status}"
