"""What a modelled realm-capable kernel must answer, shared by both generations.

:class:`KernelModel` is one generation of linux-cca's KVM realm support
(:mod:`.rfc_v1` or :mod:`.v7`), used by :class:`~.layer.RealmModel` over the arm64
model. It answers KVM_ENABLE_CAP(KVM_CAP_ARM_RME) sub-commands through handlers
named ``rme_<sub-command>``, and the vCPU ioctls the realm changes.
"""

from __future__ import annotations

import errno
import struct
from typing import Any, ClassVar

from vmm.core.model.base import ArchModel, ModelErrno
from vmm.core.model.decode import IoctlShape, UserMemory
from vmm.core.model.runarea import EXIT_REASON, EXIT_REASONS
from vmm.core.model.state import VcpuState, VmState

from ..rmm import RmmProfile
from . import formats
from .realm import RealmVm, RmmFeatures, realm_vcpu

_EXIT_MMIO = EXIT_REASONS["mmio"]
_EXIT_REASON = struct.Struct("<I")


class KernelModel:
    """One generation's realm support in the kernel.

    :param inner: The arm64 model (vCPU init, registers and the rest).
    :param features: What the modelled RMM supports.
    """

    #: "rfc-v1" or "v7".
    name: ClassVar[str]
    #: Sub-command number -> name (the handler is ``rme_<name lowercased>``).
    subcommands: ClassVar[dict[int, str]]
    #: The kernel has guest_memfd (and a realm VM has private memory).
    private_memory: ClassVar[bool] = False
    #: A realm VM accepts KVM_IRQFD.
    irqfd: ClassVar[bool] = True
    #: vCPU ioctls of this generation beyond the shared ones.
    vcpu_ioctls: ClassVar[dict[int, IoctlShape]] = {}
    #: The KVM_ARM_VCPU_FINALIZE feature that creates a REC.
    rec_feature: ClassVar[int]

    def __init__(self, inner: ArchModel, features: RmmFeatures) -> None:
        self.inner = inner
        self.features = features
        self.rmm = RmmProfile.for_uabi(self.name)

    # ------------------------------------------------------------ VM

    def enable_rme(self, vm: VmState, realm: RealmVm | None, command: int, pointer: int) -> str:
        """One KVM_CAP_ARM_RME sub-command; returns the detail for the call log."""
        name = self.subcommands.get(command)
        handler = getattr(self, f"rme_{name.lower()}", None) if name else None
        if handler is None:
            raise ModelErrno(errno.EINVAL, f"unknown KVM_CAP_ARM_RME command {command}")
        return f"{name}{handler(vm, realm, pointer)}"

    def check_extension(self, vm: VmState | None, cap: int) -> int | None:
        """A realm VM fd's answer for ``cap``, or None to ask arm64."""
        return None

    # ------------------------------------------------------------ vCPUs

    def vcpu_init(self, vcpu: VcpuState, arg: int) -> Any:
        """KVM_ARM_VCPU_INIT: arm64's rules; the realm layer remembers the features."""
        _target, features, *_ = UserMemory.unpack(formats.VCPU_INIT, arg)
        result = self.inner.handle(f"vcpu{vcpu.vcpu_id}", vcpu, "KVM_ARM_VCPU_INIT", arg)
        realm_vcpu(vcpu).features = features
        return result

    def finalize_rec(self, vcpu: VcpuState) -> Any:
        """KVM_ARM_VCPU_FINALIZE with this generation's REC feature."""
        raise NotImplementedError

    def settable(self, vcpu: VcpuState, reg_id: int) -> bool:
        """Whether KVM_SET_ONE_REG may write ``reg_id`` on a realm vCPU."""
        raise NotImplementedError

    def before_run(self, vcpu: VcpuState, realm: RealmVm) -> None:
        """KVM_RUN's realm preconditions (raise ModelErrno to refuse)."""
        raise NotImplementedError

    def register(self, vcpu: VcpuState, reg_id: int) -> int:
        """A register's value as KVM holds it (zero when never set)."""
        try:
            return int.from_bytes(self.inner.get_one_reg(vcpu, reg_id, 8), "little")
        except ModelErrno as error:
            if error.errno == errno.ENOENT:
                return 0
            raise

    def set_vcpu_events(self, vcpu: VcpuState, arg: int) -> Any:
        """A REC takes only an SEA, and only right after an emulated MMIO exit."""
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

    def psci_complete(self, vcpu: VcpuState, arg: int) -> Any:
        """KVM_ARM_VCPU_RMM_PSCI_COMPLETE (v7 only)."""
        raise ModelErrno(errno.ENOTTY, f"no KVM_ARM_VCPU_RMM_PSCI_COMPLETE in {self.name}")
