"""x86 hooks for the VM and its vCPUs: configuration, memory map, in-kernel
irqchip and PIT, CPUID and MSRs, boot registers, and the exits x86 handles."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from vmm import hookimpl
from vmm.core.errors import ConfigError, GuestError

from . import machine as m

if TYPE_CHECKING:
    from vmm.core.config import Config
    from vmm.core.layout import MemoryLayout
    from vmm.core.vcpu import Vcpu
    from vmm.core.vm import Vm

log = logging.getLogger(__name__)

#: Enough for low memory, the boot structures and a kernel above 1 MiB.
MIN_MEM_MIB = 4


@hookimpl
def vmm_validate_config(config: Config) -> None:
    """Refuse too little memory or too many vCPUs for an MP table; point at the
    built-in guest when no kernel is given."""
    if config.arch != "x86":
        return
    if 0 < config.mem_mib < MIN_MEM_MIB:
        raise ConfigError(f"-m {config.mem_mib}: an x86 guest needs at least {MIN_MEM_MIB} MiB")
    from .mptable import MAX_CPUS

    if config.cpus > MAX_CPUS:
        raise ConfigError(f"-c {config.cpus}: x86 guests find their CPUs in an MP table, "
                          f"which describes at most {MAX_CPUS}; use fewer")
    if not config.kernel and not config.firmware:
        from .guest import builtin_guest_path

        config.plugin_options.setdefault("default_guest", str(builtin_guest_path()))


@hookimpl
def vmm_kvm_model(config: Config) -> Any:
    """The x86 part of the model of KVM (for ``--dry-run`` and tests)."""
    from .model import X86Model

    return X86Model()


@hookimpl
def vmm_memory_layout(config: Config) -> MemoryLayout:
    """RAM below the 32-bit hole (at most 3 GiB) and above 4 GiB; device windows."""
    from .layout import memory_layout

    return memory_layout(config.mem_bytes)


@hookimpl
def vmm_core_init(vm: Vm) -> None:
    """Create the in-kernel irqchip and PIT, place KVM's TSS and identity-map pages,
    and read the CPUID KVM supports (once, for every vCPU)."""
    from . import ioctls as x
    from .cdefs import ffi
    from .cpu import supported_cpuid
    from .irqchip import IrqChip
    from .state import x86_state

    assert vm.vmfd is not None and vm.kvm is not None
    vmfd = vm.vmfd
    vmfd.call(x.KVM_SET_TSS_ADDR, m.TSS_ADDR)
    vmfd.call(x.KVM_SET_IDENTITY_MAP_ADDR, ffi.new("uint64_t *", m.IDENTITY_MAP_ADDR))
    vmfd.create_irqchip()
    vmfd.call(x.KVM_CREATE_PIT2, ffi.new("struct kvm_pit_config *", {"flags": x.KVM_PIT_SPEAKER_DUMMY}))
    vm.irqchip = IrqChip(vmfd)
    x86_state(vm).supported_cpuid = supported_cpuid(vm.kvm)


@hookimpl
def vmm_vcpu_init(vm: Vm, vcpu: Vcpu) -> None:
    """CPUID with this vCPU's APIC id, the boot MSRs, and register access by name."""
    from .cpu import set_cpuid, set_msrs, vcpu_cpuid
    from .registers import X86Registers
    from .state import x86_state

    set_cpuid(vcpu.fd, vcpu_cpuid(x86_state(vm).supported_cpuid, vcpu.id))
    set_msrs(vcpu.fd)
    vcpu.registers = X86Registers(vcpu.fd)


@hookimpl
def vmm_vcpu_boot_registers(vm: Vm, vcpu: Vcpu) -> dict[str, int] | None:
    """The boot vCPU's registers for the loaded kernel's protocol; other vCPUs wait
    for the boot vCPU's INIT/SIPI (the in-kernel local APIC holds them)."""
    from .boot import boot_registers

    if vcpu.id != 0:
        return {}
    return boot_registers(vm)


@hookimpl
def vmm_vcpu_finalize(vm: Vm, vcpu: Vcpu) -> None:
    """Write the gathered boot registers to KVM (two ioctls, not one per register)."""
    registers = vcpu.registers
    if registers is not None and hasattr(registers, "flush"):
        registers.flush()


@hookimpl
def vmm_handle_exit(vcpu: Vcpu, exit: Any) -> bool | None:
    """Reset, triple fault and a halt nothing can wake end the VM: with status 0
    (kvmtool's behaviour) after the guest wrote output, else with a one-line error
    (it never got going); an emulation failure is a one-line error with the rip."""
    from vmm.core.kvm import ioctls as k

    reason = exit.reason
    vm = vcpu.vm
    if reason == k.KVM_EXIT_SHUTDOWN:
        vm.stop_stuck_guest(f"vCPU {vcpu.id} triple-faulted at rip {_rip(vcpu)}")
        return True
    if reason == k.KVM_EXIT_HLT:
        if vcpu.get_reg("rflags") & m.RFLAGS_IF:
            return True  # an interrupt may still wake it
        vm.stop_stuck_guest(f"vCPU {vcpu.id} halted with interrupts disabled")
        return True
    if reason == k.KVM_EXIT_SYSTEM_EVENT:
        vm.request_stop(0 if exit.type != k.KVM_SYSTEM_EVENT_CRASH else 1)
        return True
    if reason == k.KVM_EXIT_INTERNAL_ERROR:
        raise GuestError(
            f"vCPU {vcpu.id}: KVM could not emulate the guest instruction at rip "
            f"{_rip(vcpu)} (internal error, suberror {exit.suberror})"
        )
    if reason == k.KVM_EXIT_FAIL_ENTRY:
        raise GuestError(
            f"vCPU {vcpu.id}: KVM could not enter the guest at rip {_rip(vcpu)} "
            f"(hardware reason {exit.hardware_reason:#x})"
        )
    return None


@hookimpl
def vmm_vcpu_stalled(vcpu: Vcpu) -> str | None:
    """Halted (in the in-kernel LAPIC) with interrupts disabled and no NMI pending,
    or an AP still waiting for its startup IPI: only another vCPU could wake it."""
    from vmm.core.errors import KvmError

    from . import ioctls as x
    from .cdefs import ffi

    try:
        state = ffi.new("struct kvm_mp_state *")
        vcpu.fd.call(x.KVM_GET_MP_STATE, state)
        if state.mp_state in (x.KVM_MP_STATE_UNINITIALIZED, x.KVM_MP_STATE_INIT_RECEIVED):
            return "waiting for a startup IPI"
        if state.mp_state != x.KVM_MP_STATE_HALTED or vcpu.get_reg("rflags") & m.RFLAGS_IF:
            return None
        events = ffi.new("struct kvm_vcpu_events *")
        vcpu.fd.call(x.KVM_GET_VCPU_EVENTS, events)
    except KvmError:
        return None  # can't tell: assume it can go on
    if events.nmi.pending or events.nmi.injected:
        return None
    return "halted with interrupts disabled"


def _rip(vcpu: Vcpu) -> str:
    try:
        return f"{vcpu.get_reg('rip'):#x}"
    except Exception:  # registers unreadable: still report the exit itself
        return "unknown"


@hookimpl
def vmm_register_dump(vcpu: Vcpu) -> str | None:
    """General, control and segment registers of an x86 vCPU."""
    registers = vcpu.registers
    if registers is None or not hasattr(registers, "dump"):
        return None
    return registers.dump()
