"""arm64 vCPUs: KVM_ARM_VCPU_INIT features, boot registers, SVE finalize, PMU (only
with ``--pmu``, as in kvmtool), stolen time, register dumps and the exits arm64
handles (PSCI system events).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from vmm import hookimpl
from vmm.core.errors import ConfigError, GuestError

from . import layout as mm
from .options import arm64_options
from .state import Arm64State, arm64_state

if TYPE_CHECKING:
    from vmm.core.kvm.exits import Exit
    from vmm.core.kvm.fds import VcpuFd
    from vmm.core.vcpu import Vcpu
    from vmm.core.vm import Vm

log = logging.getLogger(__name__)


def vcpu_features(vm: Vm) -> int:
    """The kvm_vcpu_init feature bits every vCPU of this VM gets (POWER_OFF aside)."""
    from . import uapi as u

    assert vm.vmfd is not None
    vmfd = vm.vmfd
    state = arm64_state(vm)
    features = 0
    if vmfd.check_extension(u.KVM_CAP_ARM_PSCI_0_2):
        features |= 1 << u.KVM_ARM_VCPU_PSCI_0_2
    state.sve_enabled = bool(vmfd.check_extension(u.KVM_CAP_ARM_SVE)) and bool(
        vm.hook.vmm_arm64_sve(vm=vm))
    if state.sve_enabled:
        features |= 1 << u.KVM_ARM_VCPU_SVE
    state.pmu_enabled = bool(arm64_options(vm.config).pmu)
    if state.pmu_enabled:
        if not vmfd.check_extension(u.KVM_CAP_ARM_PMU_V3):
            raise ConfigError("--pmu: KVM on this host has no PMUv3 to give the vCPUs; drop --pmu")
        features |= 1 << u.KVM_ARM_VCPU_PMU_V3
    if vmfd.check_extension(u.KVM_CAP_ARM_PTRAUTH_ADDRESS) and vmfd.check_extension(
        u.KVM_CAP_ARM_PTRAUTH_GENERIC
    ):
        features |= (1 << u.KVM_ARM_VCPU_PTRAUTH_ADDRESS) | (1 << u.KVM_ARM_VCPU_PTRAUTH_GENERIC)
    return features


@hookimpl
def vmm_arm64_sve(vm: Vm) -> bool:
    """SVE unless ``--disable-sve`` (a layer answers first when it decides otherwise)."""
    return not arm64_options(vm.config).disable_sve


@hookimpl
def vmm_vcpu_features(vm: Vm) -> int:
    """PSCI 0.2, SVE (when ``vmm_arm64_sve`` agrees) and pointer authentication when
    KVM has them, the PMU with --pmu."""
    return vcpu_features(vm)


@hookimpl
def vmm_vcpu_init(vm: Vm, vcpu: Vcpu) -> None:
    """KVM_ARM_VCPU_INIT with the preferred target; secondaries start powered off."""
    from . import uapi as u
    from .registers import Arm64Registers

    assert vm.vmfd is not None
    state = arm64_state(vm)
    if vcpu.id == 0:
        preferred = u.ffi.new("struct kvm_vcpu_init *")
        vm.vmfd.call(u.KVM_ARM_PREFERRED_TARGET, preferred)
        state.vcpu_target = preferred.target
        state.vcpu_features = vm.hook.vmm_vcpu_features(vm=vm) or 0
    init = u.ffi.new("struct kvm_vcpu_init *")
    init.target = state.vcpu_target
    init.features[0] = state.vcpu_features | (
        (1 << u.KVM_ARM_VCPU_POWER_OFF) if vcpu.id > 0 else 0
    )
    vcpu.fd.call(u.KVM_ARM_VCPU_INIT, init, hint=f"vCPU {vcpu.id} features {init.features[0]:#x}")
    vcpu.registers = Arm64Registers(vcpu.fd)


@hookimpl
def vmm_base_init(vm: Vm) -> None:
    """Stolen time: a 64 KiB memslot of per-vCPU records, unless --no-pvtime."""
    from . import uapi as u

    assert vm.vmfd is not None
    state = arm64_state(vm)
    if arm64_options(vm.config).no_pvtime or not vm.vmfd.check_extension(u.KVM_CAP_STEAL_TIME):
        return
    if len(vm.vcpus) * mm.PVTIME_RECORD_SIZE > mm.PVTIME_SIZE:
        raise GuestError("too many vCPUs for the stolen-time area")
    from vmm.core.memory import map_anonymous

    mapping, host_addr = map_anonymous(mm.PVTIME_SIZE)
    state.devices["pvtime"] = mapping
    vm.vmfd.set_user_memory_region(vm.memory.reserve_slot(), mm.PVTIME_BASE, mm.PVTIME_SIZE, host_addr)
    for vcpu in vm.vcpus:
        address = u.ffi.new("uint64_t *", mm.PVTIME_BASE + vcpu.id * mm.PVTIME_RECORD_SIZE)
        set_vcpu_attr(vcpu.fd, u.KVM_ARM_VCPU_PVTIME_CTRL, u.KVM_ARM_VCPU_PVTIME_IPA, address)
    state.pvtime_enabled = True


@hookimpl
def vmm_base_exit(vm: Vm) -> None:
    """Release the stolen-time pages once the vCPUs are stopped."""
    mapping = arm64_state(vm).devices.pop("pvtime", None)
    if mapping is not None:
        try:
            mapping.close()
        except BufferError:
            pass  # still exported to cffi; freed with the process


def set_vcpu_attr(fd: VcpuFd, group: int, attr: int, value: Any = None) -> None:
    """KVM_SET_DEVICE_ATTR on a vCPU fd (PMU, stolen time); ``value`` points at the data."""
    from . import uapi as u

    arg = u.ffi.new("struct kvm_device_attr *")
    arg.group = group
    arg.attr = attr
    arg.addr = int(u.ffi.cast("uintptr_t", value)) if value is not None else 0
    fd.call(u.KVM_SET_DEVICE_ATTR, arg, hint=f"vCPU attribute group {group} attr {attr}")


def init_pmus(vm: Vm) -> None:
    """Give every vCPU's PMU its overflow PPI and initialise it (after the vGIC)."""
    from . import uapi as u
    from .irqchip import PMU_PPI

    if not arm64_state(vm).pmu_enabled:
        return
    irq = u.ffi.new("int *", PMU_PPI)
    for vcpu in vm.vcpus:
        set_vcpu_attr(vcpu.fd, u.KVM_ARM_VCPU_PMU_V3_CTRL, u.KVM_ARM_VCPU_PMU_V3_IRQ, irq)
        set_vcpu_attr(vcpu.fd, u.KVM_ARM_VCPU_PMU_V3_CTRL, u.KVM_ARM_VCPU_PMU_V3_INIT)


def boot_registers(state: Arm64State, vcpu_id: int, entry: int) -> dict[str, int]:
    """As kvmtool's reset, in its order: PSTATE and x1..x3 = 0 for every vCPU, then
    x0 = DTB and PC = entry for the boot vCPU (the others wait for PSCI CPU_ON)."""
    from .registers import BOOT_PSTATE

    registers = {"pstate": BOOT_PSTATE, "x1": 0, "x2": 0, "x3": 0}
    if vcpu_id == 0:
        registers.update(x0=state.dtb_address, pc=entry)
    return registers


@hookimpl
def vmm_vcpu_boot_registers(vm: Vm, vcpu: Vcpu) -> dict[str, int]:
    """The Linux arm64 boot protocol's register state (a layer may drop entries)."""
    assert vm.kernel is not None and vm.kernel.entry is not None
    return boot_registers(arm64_state(vm), vcpu.id, vm.kernel.entry)


@hookimpl
def vmm_vcpu_finalize(vm: Vm, vcpu: Vcpu) -> None:
    """KVM_ARM_VCPU_FINALIZE(KVM_ARM_VCPU_SVE) when SVE was requested."""
    if not arm64_state(vm).sve_enabled:
        return
    from . import uapi as u

    feature = u.ffi.new("int *", u.KVM_ARM_VCPU_SVE)
    vcpu.fd.call(u.KVM_ARM_VCPU_FINALIZE, feature, hint="KVM_ARM_VCPU_SVE")


@hookimpl
def vmm_register_dump(vcpu: Vcpu) -> str | None:
    """PC, PSTATE, the EL1 exception registers and x0..x30."""
    from .registers import Arm64Registers, dump_registers

    if not isinstance(vcpu.registers, Arm64Registers):
        return None
    return dump_registers(vcpu.registers)


@hookimpl
def vmm_psci_method(vm: Vm) -> str:
    """KVM implements PSCI behind HVC for normal VMs."""
    return "hvc"


@hookimpl
def vmm_handle_exit(vcpu: Vcpu, exit: Exit) -> bool | None:
    """PSCI SYSTEM_OFF / SYSTEM_RESET end the VM (exit 0); a crash ends it with 1."""
    from . import uapi as u

    if exit.reason != u.KVM_EXIT_SYSTEM_EVENT:
        return None
    event = getattr(exit, "type", None)
    if event in (u.KVM_SYSTEM_EVENT_SHUTDOWN, u.KVM_SYSTEM_EVENT_RESET):
        log.debug("vCPU %d: guest %s", vcpu.id,
                  "powered off" if event == u.KVM_SYSTEM_EVENT_SHUTDOWN else "asked for a reset")
        vcpu.vm.request_stop(0)
        return True
    if event == u.KVM_SYSTEM_EVENT_CRASH:
        vcpu.vm.request_stop(1, GuestError(f"vCPU {vcpu.id}: the guest reported a crash (PSCI)"))
        return True
    return None
