"""A realm-capable kernel, as a layer over the arm64 model of KVM.

:class:`RealmModel` wraps the arm64 plugin's :class:`ArchModel` and adds what
linux-cca's KVM adds, in the generation it is given (:mod:`.rfc_v1` or :mod:`.v7`;
None models a kernel without realm support): KVM_CAP_ARM_RME, the realm VM type
(the IPA limit the RMM's), the realm state machine (NONE -> NEW -> ACTIVE), the vCPU
rules of a REC, and the capability answers of a realm VM fd. Every RMI call the
kernel would make goes to the realm's RTT model and :class:`PlanRecorder`, so the RMM
model can compute the realm's measurement.
"""

from __future__ import annotations

import errno
from typing import Any

from vmm.core.model.base import ArchModel, ArchModelLayer, ModelErrno
from vmm.core.model.state import VcpuState, VmState

from .. import uapi
from ..rmm import RmmProfile
from . import formats
from .kernel import KernelModel
from .realm import REALM_VM_KEY, RealmVm, RmmFeatures, realm_of

#: The IPA width of a VM type whose IPA field is 0.
DEFAULT_IPA_BITS = 40
MIN_IPA_BITS = 32
CAP_GUEST_DEBUG_HW_BPS, CAP_GUEST_DEBUG_HW_WPS = 119, 120


def kernel_model(generation: str, inner: ArchModel, features: RmmFeatures) -> KernelModel | None:
    """The kernel of ``generation`` ("rfc-v1", "v7"; "none": no realm support)."""
    if generation == "rfc-v1":
        from .rfc_v1 import RfcV1Kernel

        return RfcV1Kernel(inner, features)
    if generation == "v7":
        from .v7 import V7Kernel

        return V7Kernel(inner, features)
    return None


class RealmModel(ArchModelLayer):
    """The arm64 model plus a realm-capable kernel of one generation and an RMM model.

    :param inner: The arm64 plugin's model.
    :param generation: "rfc-v1", "v7" or "none".
    :param features: What the modelled RMM supports (default: the modelled host's).
    """

    vcpu_ioctls = formats.VCPU_IOCTLS

    def __init__(self, inner: ArchModel, generation: str = "rfc-v1",
                 features: RmmFeatures | None = None) -> None:
        super().__init__(inner)
        self.features = features or RmmFeatures.from_host(getattr(inner, "host", None))
        self.kernel = kernel_model(generation, inner, self.features)
        if self.kernel is not None:
            self.vcpu_ioctls = {**self.vcpu_ioctls, **self.kernel.vcpu_ioctls}
            self.private_memory = self.private_memory or self.kernel.private_memory
        #: Every realm VM created on this model, in order.
        self.realms: list[RealmVm] = []

    @property
    def rmm(self) -> RmmProfile | None:
        """The RMM profile the realms' plans are measured under (None without RME)."""
        return self.kernel.rmm if self.kernel is not None else None

    # ------------------------------------------------------------ VM type and caps

    def validate_vm_type(self, vm_type: int) -> None:
        """Accept the realm type with an IPA width the RMM supports; else ask arm64."""
        kind = vm_type & uapi.KVM_VM_TYPE_ARM_MASK
        if self.kernel is None or kind == uapi.KVM_VM_TYPE_ARM_NORMAL:
            self.inner.validate_vm_type(vm_type)
            return
        if vm_type & ~(uapi.KVM_VM_TYPE_ARM_MASK | uapi.KVM_VM_TYPE_ARM_IPA_SIZE_MASK):
            raise ModelErrno(errno.EINVAL, f"machine type {vm_type:#x} has unknown bits")
        if kind != uapi.KVM_VM_TYPE_ARM_REALM:
            raise ModelErrno(errno.EINVAL, f"machine type field {kind >> 8} is unknown")
        ipa_bits = vm_type & uapi.KVM_VM_TYPE_ARM_IPA_SIZE_MASK
        if ipa_bits and not MIN_IPA_BITS <= ipa_bits <= self.features.max_ipa_bits:
            raise ModelErrno(
                errno.EINVAL,
                f"realm IPA size {ipa_bits} outside {MIN_IPA_BITS}..{self.features.max_ipa_bits}",
            )

    def new_vm(self, vm: VmState) -> None:
        """Set up the arm64 state; a realm type also gets its (NONE) realm state."""
        self.inner.new_vm(vm)
        if self.kernel is not None and vm.vm_type & uapi.KVM_VM_TYPE_ARM_MASK == uapi.KVM_VM_TYPE_ARM_REALM:
            realm = RealmVm(vm.vm_type & uapi.KVM_VM_TYPE_ARM_IPA_SIZE_MASK or DEFAULT_IPA_BITS)
            vm.arch[REALM_VM_KEY] = realm
            self.realms.append(realm)

    def irqfd_allowed(self, vm: VmState) -> bool:
        """A realm of a kernel that refuses irqfds (v7: measured on the kit's host,
        where a virtio line falls back to a level, so its device tree says level)."""
        if realm_of(vm) is not None and self.kernel is not None and not self.kernel.irqfd:
            return False
        return self.inner.irqfd_allowed(vm)

    def vm_has_private_memory(self, vm: VmState) -> bool:
        """A realm's memory is private in a kernel with guest_memfd (v7)."""
        return self.private_memory and realm_of(vm) is not None

    def check_extension(self, vm: VmState | None, cap: int) -> int:
        """KVM_CAP_ARM_RME; a realm VM fd hides stolen time and debug, reports the RMM's SVE."""
        if cap == uapi.KVM_CAP_ARM_RME:
            return int(self.kernel is not None)
        if vm is not None and realm_of(vm) is not None:
            if cap in (uapi.KVM_CAP_STEAL_TIME, CAP_GUEST_DEBUG_HW_BPS, CAP_GUEST_DEBUG_HW_WPS):
                return 0
            if cap == uapi.KVM_CAP_ARM_SVE:
                return int(self.features.sve)
        return self.inner.check_extension(vm, cap)

    def enable_cap(self, vm: VmState, cap: int, flags: int, args: tuple[int, ...]) -> Any:
        """KVM_ENABLE_CAP: KVM_CAP_ARM_RME to the kernel model, anything else to arm64."""
        if cap != uapi.KVM_CAP_ARM_RME or self.kernel is None:
            return self.inner.enable_cap(vm, cap, flags, args)
        if flags:
            raise ModelErrno(errno.EINVAL, "KVM_CAP_ARM_RME takes no flags")
        realm = realm_of(vm)
        if realm is None and self.kernel.name != "rfc-v1":  # RFC-v1 doesn't ask
            raise ModelErrno(errno.EINVAL, "not a realm VM")
        detail = self.kernel.enable_rme(vm, realm, args[0], args[1])
        return 0, f"cap={cap} {detail}"

    # ------------------------------------------------------------ vCPUs

    def on_kvm_arm_vcpu_init(self, vcpu: VcpuState, arg: int) -> Any:
        if self.kernel is None:
            return self.inner.handle(f"vcpu{vcpu.vcpu_id}", vcpu, "KVM_ARM_VCPU_INIT", arg)
        return self.kernel.vcpu_init(vcpu, arg)

    def on_kvm_arm_vcpu_finalize(self, vcpu: VcpuState, arg: int) -> Any:
        from vmm.core.model.decode import UserMemory

        (feature,) = UserMemory.unpack(formats.FINALIZE_FEATURE, arg)
        kernel = self.kernel
        if kernel is None or feature != kernel.rec_feature:
            return self.inner.handle(f"vcpu{vcpu.vcpu_id}", vcpu, "KVM_ARM_VCPU_FINALIZE", arg)
        if vcpu.arch.get("target") is None:
            raise ModelErrno(errno.ENOEXEC, "vCPU not initialised")
        return kernel.finalize_rec(vcpu)

    def on_kvm_set_vcpu_events(self, vcpu: VcpuState, arg: int) -> Any:
        if self.kernel is None or realm_of(vcpu.vm) is None:
            return self.inner.handle(f"vcpu{vcpu.vcpu_id}", vcpu, "KVM_SET_VCPU_EVENTS", arg)
        return self.kernel.set_vcpu_events(vcpu, arg)

    def on_kvm_arm_vcpu_rmm_psci_complete(self, vcpu: VcpuState, arg: int) -> Any:
        assert self.kernel is not None  # only a v7 kernel declares the ioctl
        return self.kernel.psci_complete(vcpu, arg)

    def set_one_reg(self, vcpu: VcpuState, reg_id: int, value: bytes) -> None:
        """A realm vCPU accepts only the registers its generation allows."""
        if self.kernel is not None and realm_of(vcpu.vm) is not None \
                and not self.kernel.settable(vcpu, reg_id):
            what = "PSTATE" if reg_id == formats.PSTATE_ID else f"register {reg_id:#x}"
            raise ModelErrno(errno.EINVAL, f"{what} of a realm vCPU can't be set")
        self.inner.set_one_reg(vcpu, reg_id, value)

    def before_run(self, vcpu: VcpuState) -> None:
        """A realm vCPU runs only once its REC exists and the realm is active."""
        realm = realm_of(vcpu.vm)
        if self.kernel is not None and realm is not None:
            self.kernel.before_run(vcpu, realm)
        self.inner.before_run(vcpu)
