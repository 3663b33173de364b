"""The realm calls both UABI generations make the same way (the VMM's side).

KVM_ENABLE_CAP(KVM_CAP_ARM_RME, sub-command, &argument), KVM_ARM_VCPU_FINALIZE with
the generation's REC feature, and the synchronous external abort injected for an
MMIO access no device claimed. A failure surfaces as a ``KvmError`` naming the step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vmm.core.kvm import ioctls as k

from .uapi import KVM_CAP_ARM_RME

if TYPE_CHECKING:  # pragma: no cover
    from vmm.core.kvm.fds import VcpuFd, VmFd


def enable_rme(vmfd: VmFd, ffi: Any, command: int, argument: Any, step: str) -> None:
    """KVM_ENABLE_CAP(KVM_CAP_ARM_RME, command, &argument); ``step`` names it in errors."""
    cap = ffi.new("struct kvm_enable_cap *")
    cap.cap = KVM_CAP_ARM_RME
    cap.args[0] = command
    if argument is not None:
        cap.args[1] = int(ffi.cast("uintptr_t", argument))
    vmfd.call(k.KVM_ENABLE_CAP, cap, hint=f"KVM_CAP_ARM_RME {step}")


def finalize_rec(fd: VcpuFd, ffi: Any, rec_feature: int) -> None:
    """KVM_ARM_VCPU_FINALIZE(KVM_ARM_VCPU_REC): create the vCPU's REC."""
    from vmm.plugins.arm64.uapi import KVM_ARM_VCPU_FINALIZE

    feature = ffi.new("int *", rec_feature)
    fd.call(KVM_ARM_VCPU_FINALIZE, feature, hint="KVM_ARM_VCPU_REC")


class AbortInjector:
    """Injects synchronous external aborts into one vCPU (an unclaimed MMIO access).

    The ``kvm_vcpu_events`` struct is allocated once per vCPU, not per exit.
    """

    def __init__(self, fd: VcpuFd) -> None:
        from vmm.plugins.arm64.uapi import KVM_SET_VCPU_EVENTS, ffi

        self._fd = fd
        self._ioctl = KVM_SET_VCPU_EVENTS
        self._events = ffi.new("struct kvm_vcpu_events *")
        self._events.exception.ext_dabt_pending = 1

    def inject(self) -> None:
        """KVM_SET_VCPU_EVENTS with only ``ext_dabt_pending`` set."""
        self._fd.call(self._ioctl, self._events, hint="injecting an SEA")
