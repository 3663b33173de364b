"""x86 vCPUs: CPUID and MSRs, boot registers for each boot protocol, register
dumps, and the exits x86 handles."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from vmm import hookimpl
from vmm.core.errors import GuestError, ImageError

from . import layout as m

if TYPE_CHECKING:
    from vmm.core.vcpu import Vcpu
    from vmm.core.vm import Vm

log = logging.getLogger(__name__)


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
    if vcpu.id != 0:
        return {}
    return boot_registers(vm)


def boot_registers(vm: Vm) -> dict[str, int]:
    """Registers that start the loaded kernel per its protocol (see :mod:`.state`),
    with the boot structures (GDT, identity map) the protected- and long-mode
    protocols need written to guest memory."""
    from . import cpumodes
    from .state import LINUX_64, PVH, REAL_MODE, x86_state

    boot = x86_state(vm).boot
    if boot is None:
        raise ImageError("no x86 kernel was loaded")
    if boot.protocol == REAL_MODE:
        return cpumodes.real_mode_registers(m.REAL_MODE_SEGMENT, boot.entry, m.REAL_MODE_STACK)
    gdt = cpumodes.write_boot_gdt(vm.memory)
    if boot.protocol == PVH:
        registers = cpumodes.protected_mode_registers(gdt, boot.entry)
        registers["rbx"] = boot.boot_struct
        return registers
    if boot.protocol == LINUX_64:
        cr3 = cpumodes.write_identity_page_tables(vm.memory)
        registers = cpumodes.long_mode_registers(gdt, cr3, boot.entry)
        registers["rsi"] = boot.boot_struct
        return registers
    raise ImageError(f"unknown x86 boot protocol {boot.protocol!r}")


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

    from . import uapi as x
    from .uapi import ffi

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
