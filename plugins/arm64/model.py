"""The arm64 part of the model of KVM: answers as arch/arm64/kvm does.

It decodes arguments with its own ``struct`` formats and restates the UAPI numbers
it needs (independently of :mod:`vmm.plugins.arm64.uapi`, so the two check each other).

Extension points for layers (``vmm.core.model.base.ArchModelLayer``), each small:

- ``validate_vm_type(type)`` / ``ipa_bits_of(type)``: which KVM_CREATE_VM types exist;
- ``enable_cap(vm, cap, flags, args)``: KVM_ENABLE_CAP on the VM fd;
- ``init_vcpu(vcpu, target, words)`` / ``check_vcpu_features(vcpu, features)``:
  KVM_ARM_VCPU_INIT and its feature rules;
- ``finalize(vcpu, what)``: KVM_ARM_VCPU_FINALIZE of one feature;
- ``set_one_reg`` / ``get_one_reg``: register access rules;
- ``before_run(vcpu)``: KVM_RUN's preconditions.
"""

from __future__ import annotations

import errno
import struct
from typing import Any

from vmm.core.model.base import ArchModel, ModelErrno
from vmm.core.model.decode import UserMemory, ior, iow
from vmm.core.model.state import VcpuState, VmState

from .model_devices import DeviceModelMixin
from .model_host import ModelHost

# include/uapi/linux/kvm.h capabilities, restated.
CAP_IRQCHIP, CAP_IOEVENTFD, CAP_IRQFD, CAP_ONE_REG = 0, 36, 32, 70
CAP_DEVICE_CTRL, CAP_ARM_PSCI, CAP_ARM_PSCI_0_2 = 89, 87, 102
CAP_ARM_PMU_V3, CAP_VCPU_EVENTS, CAP_ARM_VM_IPA_SIZE = 126, 41, 165
CAP_ARM_SVE, CAP_ARM_PTRAUTH_ADDRESS, CAP_ARM_PTRAUTH_GENERIC = 170, 171, 172
CAP_ARM_INJECT_EXT_DABT, CAP_STEAL_TIME, CAP_ARM_MTE = 178, 187, 205
CAP_CHECK_EXTENSION_VM, CAP_ARM_INJECT_SERROR_ESR = 105, 158
CAP_GUEST_DEBUG_HW_BPS, CAP_GUEST_DEBUG_HW_WPS = 119, 120

IPA_SIZE_MASK = 0xFF
MIN_IPA_BITS = 32
DEFAULT_IPA_BITS = 40

# kvm_vcpu_init features (asm/kvm.h), restated.
FEATURE_POWER_OFF, FEATURE_EL1_32BIT, FEATURE_PSCI_0_2, FEATURE_PMU_V3 = 0, 1, 2, 3
FEATURE_SVE, FEATURE_PTRAUTH_ADDRESS, FEATURE_PTRAUTH_GENERIC = 4, 5, 6
#: KVM_VCPU_MAX_FEATURES of the RFC-v1 kernel.
MAX_FEATURES = 7
TARGET_GENERIC_V8 = 5
VCPU_INIT_FORMAT = "<I7I"

# ONE_REG ids: KVM_REG_ARM64 | size | coproc | index.
REG_ARCH_MASK = 0xFF00_0000_0000_0000
REG_ARM64 = 0x6000_0000_0000_0000
REG_SIZE_SHIFT, REG_SIZE_MASK = 52, 0xF
REG_COPROC_MASK = 0x0FFF_0000
REG_CORE, REG_SYSREG = 0x0010_0000, 0x0013_0000
REG_INDEX_MASK = 0xFFFF
# struct kvm_regs as 32-bit words: user_pt_regs (x0-x30, sp, pc, pstate), sp_el1,
# elr_el1, spsr[5], then fp_regs 16-byte aligned: vregs[32] (u128), fpsr, fpcr.
_BEFORE_FP = struct.calcsize("<34QQQ5Q")
_VREGS_WORD = ((_BEFORE_FP + 15) // 16 * 16) // 4
_FPSR_WORD = _VREGS_WORD + 32 * 4
PC_WORD = struct.calcsize("<31QQ") // 4
PSTATE_WORD = struct.calcsize("<31QQQ") // 4
#: PSTATE after a vCPU reset: EL1h, D, A, I, F masked.
RESET_PSTATE = 0x3C5
MPIDR_SYSREG = (3 << 14) | (0 << 11) | (0 << 7) | (0 << 3) | 5
MPIDR_RES1 = 1 << 31
FINALIZE_FORMAT = "<i"
# ID_AA64DFR0_EL1 (op0 3, op1 0, CRn 0, CRm 5, op2 0): DebugVer 6, BRPs, WRPs (count - 1)
# and CTX_CMPs; PMCR_EL0 (3, 3, 9, 12, 0): N, the event counters.
DFR0_ID = REG_ARM64 | (3 << REG_SIZE_SHIFT) | REG_SYSREG | (3 << 14) | (5 << 3)
PMCR_ID = REG_ARM64 | (3 << REG_SIZE_SHIFT) | REG_SYSREG | (3 << 14) | (3 << 11) | (9 << 7) | (12 << 3)
DFR0_BRPS_SHIFT, DFR0_WRPS_SHIFT, DFR0_CTX_CMPS_SHIFT, PMCR_N_SHIFT = 12, 20, 28, 11
DFR0_DEBUGVER_V8 = 0x6
# KVM_REG_ARM64_SVE_VLS: the vector lengths a vCPU may use, one bit per VQ from 1.
SVE_VLS_ID = REG_ARM64 | (6 << REG_SIZE_SHIFT) | 0x0015_0000 | 0xFFFF
SVE_MAX_VQ = 16


def mpidr_of(vcpu_id: int) -> int:
    """The MPIDR_EL1 KVM gives vCPU ``vcpu_id`` (16 per cluster in Aff0)."""
    aff0 = vcpu_id & 0xF
    aff1 = (vcpu_id >> 4) & 0xFF
    aff2 = (vcpu_id >> 12) & 0xFF
    return MPIDR_RES1 | (aff2 << 16) | (aff1 << 8) | aff0


def core_register_size(word: int) -> int | None:
    """The byte size of the core register at 32-bit ``word`` of kvm_regs, or None."""
    if word < _BEFORE_FP // 4:
        return 8 if word % 2 == 0 else None
    if _VREGS_WORD <= word < _FPSR_WORD and (word - _VREGS_WORD) % 4 == 0:
        return 16
    if word in (_FPSR_WORD, _FPSR_WORD + 1):
        return 4
    return None


class Arm64Model(DeviceModelMixin, ArchModel):
    """KVM on an arm64 host as :class:`ModelHost` describes it."""

    arch = "arm64"

    vm_ioctls = {0xAF: ior("KVM_ARM_PREFERRED_TARGET", VCPU_INIT_FORMAT)}
    vcpu_ioctls = {
        0xAE: iow("KVM_ARM_VCPU_INIT", VCPU_INIT_FORMAT),
        0xC2: iow("KVM_ARM_VCPU_FINALIZE", FINALIZE_FORMAT),
        **DeviceModelMixin.vcpu_device_ioctls,
    }

    def __init__(self, host: ModelHost | None = None) -> None:
        self.host = host or ModelHost()
        self.capabilities = self._capabilities()

    def _capabilities(self) -> dict[int, int]:
        host = self.host
        return {
            CAP_IRQCHIP: int(host.gicv3 or host.gicv2),
            CAP_IOEVENTFD: 1,
            CAP_IRQFD: 1,
            CAP_ONE_REG: 1,
            CAP_DEVICE_CTRL: 1,
            CAP_CHECK_EXTENSION_VM: 1,
            CAP_VCPU_EVENTS: 1,
            CAP_ARM_PSCI: 1,
            CAP_ARM_PSCI_0_2: int(host.psci_0_2),
            CAP_ARM_PMU_V3: int(host.pmu),
            CAP_ARM_VM_IPA_SIZE: host.ipa,
            CAP_ARM_SVE: int(host.sve),
            CAP_ARM_PTRAUTH_ADDRESS: int(host.ptrauth),
            CAP_ARM_PTRAUTH_GENERIC: int(host.ptrauth),
            CAP_ARM_INJECT_EXT_DABT: 1,
            CAP_ARM_INJECT_SERROR_ESR: int(host.ras),
            CAP_STEAL_TIME: int(host.steal_time),
            CAP_ARM_MTE: int(host.mte),
            CAP_GUEST_DEBUG_HW_BPS: host.bps,
            CAP_GUEST_DEBUG_HW_WPS: host.wps,
        }

    # ------------------------------------------------------------------ VM

    @property
    def ipa_limit(self) -> int:
        """The largest IPA size a VM may ask for."""
        return self.host.ipa or DEFAULT_IPA_BITS

    def ipa_bits_of(self, vm_type: int) -> int:
        """The IPA size a VM of ``vm_type`` gets (0 in the field means 40 bits)."""
        return (vm_type & IPA_SIZE_MASK) or DEFAULT_IPA_BITS

    def validate_vm_type(self, vm_type: int) -> None:
        """kvm_arm_setup_stage2: only the IPA field, within [32, host limit]."""
        if vm_type & ~IPA_SIZE_MASK:
            raise ModelErrno(errno.EINVAL, f"unknown machine type bits {vm_type & ~IPA_SIZE_MASK:#x}")
        requested = vm_type & IPA_SIZE_MASK
        if requested and not self.host.ipa:
            raise ModelErrno(errno.EINVAL, "this kernel has no KVM_CAP_ARM_VM_IPA_SIZE")
        bits = self.ipa_bits_of(vm_type)
        if bits > self.ipa_limit or bits < MIN_IPA_BITS:
            raise ModelErrno(errno.EINVAL, f"IPA size {bits} outside [32, {self.ipa_limit}]")

    def new_vm(self, vm: VmState) -> None:
        vm.arch.update(ipa_bits=self.ipa_bits_of(vm.vm_type), mte=False, vgic=None)

    def enable_cap(self, vm: VmState, cap: int, flags: int, args: tuple[int, ...]) -> int:
        """Only KVM_CAP_ARM_MTE, before any vCPU exists, with zero flags and args."""
        if cap == CAP_ARM_MTE and self.host.mte:
            if vm.vcpus or flags or any(args):
                raise ModelErrno(errno.EINVAL, "MTE must be enabled before vCPUs, without args")
            vm.arch["mte"] = True
            return 0
        raise ModelErrno(errno.EINVAL, f"capability {cap} can't be enabled")

    def on_kvm_arm_preferred_target(self, vm: VmState, arg: int) -> tuple[int, str]:
        UserMemory.write(arg, struct.pack(VCPU_INIT_FORMAT, TARGET_GENERIC_V8, *[0] * 7))
        return 0, f"target={TARGET_GENERIC_V8}"

    # ------------------------------------------------------------------ vCPUs

    def before_create_vcpu(self, vm: VmState, vcpu_id: int) -> None:
        vgic = vm.arch.get("vgic")
        if vgic is not None and vgic.initialized:
            raise ModelErrno(errno.EBUSY, "vCPU created after the vGIC was initialised")

    def new_vcpu(self, vcpu: VcpuState) -> None:
        vcpu.arch.update(target=None, features=0, sve_finalized=False,
                         pmu_irq=None, pmu_ready=False, pvtime_ipa=None, pending_sea=0)

    def on_kvm_arm_vcpu_init(self, vcpu: VcpuState, arg: int) -> tuple[int, str]:
        target, *words = UserMemory.unpack(VCPU_INIT_FORMAT, arg)
        return self.init_vcpu(vcpu, target, words)

    def init_vcpu(self, vcpu: VcpuState, target: int, words: list[int]) -> tuple[int, str]:
        """KVM_ARM_VCPU_INIT with ``target`` and the features words, as decoded."""
        if target != TARGET_GENERIC_V8:
            raise ModelErrno(errno.EINVAL, f"target {target} is not the preferred target")
        if any(words[1:]) or words[0] >> MAX_FEATURES:
            raise ModelErrno(errno.ENOENT, "unknown vCPU feature bits")
        features = words[0]
        if vcpu.arch["target"] is not None and features != vcpu.arch["features"]:
            raise ModelErrno(errno.EINVAL, "features differ from the first KVM_ARM_VCPU_INIT")
        self.check_vcpu_features(vcpu, features)
        vcpu.arch.update(target=target, features=features)
        self._reset_registers(vcpu)
        return 0, f"target={target} features={features:#x}"

    def check_vcpu_features(self, vcpu: VcpuState, features: int) -> None:
        """Refuse feature combinations this host can't give (EINVAL)."""
        host = self.host

        def wants(bit: int) -> bool:
            return bool(features >> bit & 1)

        if wants(FEATURE_SVE) and (not host.sve or wants(FEATURE_EL1_32BIT)):
            raise ModelErrno(errno.EINVAL, "SVE is not available")
        if wants(FEATURE_PMU_V3) and not host.pmu:
            raise ModelErrno(errno.EINVAL, "no PMUv3 on this host")
        if wants(FEATURE_EL1_32BIT):
            raise ModelErrno(errno.EINVAL, "this host has no AArch32 EL1")
        address, generic = wants(FEATURE_PTRAUTH_ADDRESS), wants(FEATURE_PTRAUTH_GENERIC)
        if (address or generic) and (address != generic or not host.ptrauth):
            raise ModelErrno(errno.EINVAL, "pointer authentication needs both bits and host support")

    def _reset_registers(self, vcpu: VcpuState) -> None:
        host = self.host
        vcpu.regs.clear()
        vcpu.regs[REG_ARM64 | (3 << REG_SIZE_SHIFT) | REG_CORE | PSTATE_WORD] = RESET_PSTATE
        vcpu.regs[REG_ARM64 | (3 << REG_SIZE_SHIFT) | REG_SYSREG | MPIDR_SYSREG] = mpidr_of(vcpu.vcpu_id)
        vcpu.regs[DFR0_ID] = (DFR0_DEBUGVER_V8 | (host.bps - 1) << DFR0_BRPS_SHIFT
                              | (host.wps - 1) << DFR0_WRPS_SHIFT | 1 << DFR0_CTX_CMPS_SHIFT)
        if vcpu.arch["features"] >> FEATURE_PMU_V3 & 1:
            vcpu.regs[PMCR_ID] = host.pmu_counters << PMCR_N_SHIFT
        if vcpu.arch["features"] >> FEATURE_SVE & 1:
            vcpu.regs[SVE_VLS_ID] = (1 << SVE_MAX_VQ) - 1

    def on_kvm_arm_vcpu_finalize(self, vcpu: VcpuState, arg: int) -> tuple[int, str]:
        if vcpu.arch["target"] is None:
            raise ModelErrno(errno.ENOEXEC, "vCPU not initialised")
        (what,) = UserMemory.unpack(FINALIZE_FORMAT, arg)
        self.finalize(vcpu, what)
        return 0, f"feature={what}"

    def finalize(self, vcpu: VcpuState, what: int) -> None:
        """KVM_ARM_VCPU_FINALIZE(what): only SVE, once, if it was requested."""
        if what != FEATURE_SVE or not vcpu.arch["features"] >> FEATURE_SVE & 1:
            raise ModelErrno(errno.EINVAL, f"nothing to finalize for feature {what}")
        if vcpu.arch["sve_finalized"]:
            raise ModelErrno(errno.EPERM, "SVE already finalized")
        vcpu.arch["sve_finalized"] = True

    # ------------------------------------------------------------------ registers

    def _check_reg(self, vcpu: VcpuState, reg_id: int) -> int:
        """Validate a ONE_REG id for this vCPU; return its size in bytes."""
        if vcpu.arch["target"] is None:
            raise ModelErrno(errno.ENOEXEC, "vCPU not initialised")
        size = 1 << ((reg_id >> REG_SIZE_SHIFT) & REG_SIZE_MASK)
        if reg_id & REG_ARCH_MASK != REG_ARM64:
            raise ModelErrno(errno.EINVAL, f"register {reg_id:#x} is not an arm64 register")
        coproc = reg_id & REG_COPROC_MASK
        if coproc == REG_CORE:
            expected = core_register_size(reg_id & REG_INDEX_MASK)
            if expected is None or expected != size or reg_id & ~(
                    REG_ARCH_MASK | (REG_SIZE_MASK << REG_SIZE_SHIFT) | REG_COPROC_MASK | REG_INDEX_MASK):
                raise ModelErrno(errno.EINVAL, f"bad core register {reg_id:#x}")
            return size
        if coproc == REG_SYSREG and size == 8:
            return size
        if reg_id == SVE_VLS_ID:
            if not vcpu.arch["features"] >> FEATURE_SVE & 1:
                raise ModelErrno(errno.ENOENT, "no SVE on this vCPU")
            return size
        raise ModelErrno(errno.ENOENT, f"register {reg_id:#x} unknown")

    def set_one_reg(self, vcpu: VcpuState, reg_id: int, value: bytes) -> None:
        self._check_reg(vcpu, reg_id)
        number = int.from_bytes(value, "little")
        if reg_id == SVE_VLS_ID:
            self._check_sve_vls(vcpu, number)
        vcpu.regs[reg_id] = number

    def _check_sve_vls(self, vcpu: VcpuState, vqs: int) -> None:
        """KVM's rules for KVM_REG_ARM64_SVE_VLS: before FINALIZE(SVE), and the lengths
        up to the longest asked for exactly those the host has."""
        if vcpu.arch["sve_finalized"]:
            raise ModelErrno(errno.EPERM, "SVE already finalized")
        longest = vqs.bit_length()
        if not 0 < longest <= SVE_MAX_VQ or vqs != (1 << longest) - 1:
            raise ModelErrno(errno.EINVAL, f"SVE vector lengths {vqs:#x} not offered")

    def get_one_reg(self, vcpu: VcpuState, reg_id: int, size: int) -> bytes:
        self._check_reg(vcpu, reg_id)
        return vcpu.regs.get(reg_id, 0).to_bytes(size, "little")

    # ------------------------------------------------------------------ running

    def before_run(self, vcpu: VcpuState) -> None:
        """kvm_vcpu_first_run_init's checks: initialised, finalized, PMU ready."""
        features = vcpu.arch["features"]
        if vcpu.arch["target"] is None:
            raise ModelErrno(errno.ENOEXEC, "KVM_RUN before KVM_ARM_VCPU_INIT")
        if features >> FEATURE_SVE & 1 and not vcpu.arch["sve_finalized"]:
            raise ModelErrno(errno.EPERM, "SVE not finalized")
        if features >> FEATURE_PMU_V3 & 1 and not vcpu.arch["pmu_ready"]:
            raise ModelErrno(errno.EINVAL, "PMUv3 not initialised")

    def idle_exit(self, vcpu: VcpuState) -> tuple[str, dict[str, Any]]:
        """With nothing scripted the guest calls PSCI SYSTEM_OFF."""
        return ("system_event", {"type": 1})

