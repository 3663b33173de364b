"""The SBI calls and system events KVM hands to user space.

KVM implements SBI in the kernel (timer, IPI, RFENCE, HSM, SRST...) and forwards to
user space only what it can't do: the experimental range (vmm's own console putchar
at :data:`SBI_EXT_VMM_CONSOLE`), the legacy console calls when the host kernel has
SBI v0.1, the debug console (DBCN) when user space enabled it, and SRST system
resets (which current KVM reports as KVM_EXIT_SYSTEM_EVENT instead).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from vmm.core.errors import GuestError
from vmm.core.kvm import ioctls as k
from vmm.core.memory import GuestMemoryError

from .exits import set_sbi_return

if TYPE_CHECKING:
    from vmm.core.kvm.exits import Exit, SystemEventExit
    from vmm.core.vcpu import Vcpu

    from .exits import RiscvSbiExit

SBI_EXT_0_1_CONSOLE_PUTCHAR = 0x01
SBI_EXT_0_1_CONSOLE_GETCHAR = 0x02
SBI_EXT_SRST = 0x5352_5354  # "SRST"
SBI_EXT_DBCN = 0x4442_434E  # "DBCN"
#: The start of the experimental extension range: vmm's console (function 0: putchar).
SBI_EXT_VMM_CONSOLE = 0x0800_0000
SBI_VMM_CONSOLE_PUTCHAR = 0

SBI_SRST_RESET = 0  # function id of system_reset
SBI_SRST_TYPE_SHUTDOWN = 0
SBI_SRST_TYPE_COLD_REBOOT = 1
SBI_SRST_TYPE_WARM_REBOOT = 2

SBI_DBCN_WRITE = 0
SBI_DBCN_READ = 1
SBI_DBCN_WRITE_BYTE = 2
#: Most bytes one DBCN write copies (the guest retries with the rest).
DBCN_WRITE_LIMIT = 4096

SBI_SUCCESS = 0
SBI_ERR_NOT_SUPPORTED = -2
SBI_ERR_INVALID_PARAM = -3


def _putchar(vcpu: Vcpu, value: int) -> None:
    vcpu.vm.write_console(bytes((value & 0xFF,)))


def handle_sbi(vcpu: Vcpu, call: RiscvSbiExit) -> bool:
    """Answer one forwarded SBI call; the return registers are set before re-entry."""
    ext, fid, args = call.extension_id, call.function_id, call.args
    ret = partial(set_sbi_return, vcpu)
    if ext == SBI_EXT_VMM_CONSOLE and fid == SBI_VMM_CONSOLE_PUTCHAR:
        _putchar(vcpu, args[0])
        ret(SBI_SUCCESS, 0)
    elif ext == SBI_EXT_0_1_CONSOLE_PUTCHAR:
        _putchar(vcpu, args[0])
        ret(SBI_SUCCESS, 0)  # legacy calls return in a0 only
    elif ext == SBI_EXT_0_1_CONSOLE_GETCHAR:
        ret(-1, 0)  # no input waiting
    elif ext == SBI_EXT_DBCN:
        _debug_console(vcpu, fid, args)
    elif ext == SBI_EXT_SRST and fid == SBI_SRST_RESET:
        reset_type = args[0] & 0xFFFF_FFFF
        if reset_type not in (SBI_SRST_TYPE_SHUTDOWN, SBI_SRST_TYPE_COLD_REBOOT,
                              SBI_SRST_TYPE_WARM_REBOOT):
            ret(SBI_ERR_INVALID_PARAM, 0)
        else:
            ret(SBI_SUCCESS, 0)
            vcpu.vm.request_stop(0)
    else:
        ret(SBI_ERR_NOT_SUPPORTED, 0)
    return True


def _debug_console(vcpu: Vcpu, fid: int, args: list[int]) -> None:
    """DBCN: write a guest buffer, write a byte; reading returns nothing."""
    ret = partial(set_sbi_return, vcpu)
    if fid == SBI_DBCN_WRITE:
        length = min(args[0], DBCN_WRITE_LIMIT)
        address = args[1] | args[2] << 64  # base_addr_lo | base_addr_hi << XLEN
        try:
            data = vcpu.vm.memory.read(address, length)
        except GuestMemoryError:
            ret(SBI_ERR_INVALID_PARAM, 0)
            return
        vcpu.vm.write_console(data)
        ret(SBI_SUCCESS, length)
    elif fid == SBI_DBCN_READ:
        ret(SBI_SUCCESS, 0)
    elif fid == SBI_DBCN_WRITE_BYTE:
        _putchar(vcpu, args[0])
        ret(SBI_SUCCESS, 0)
    else:
        ret(SBI_ERR_NOT_SUPPORTED, 0)


def handle_system_event(vcpu: Vcpu, event: SystemEventExit) -> bool:
    """Shutdown and reset end the VM with 0; a crash ends it with an error."""
    if event.type in (k.KVM_SYSTEM_EVENT_SHUTDOWN, k.KVM_SYSTEM_EVENT_RESET):
        vcpu.vm.request_stop(0)
        return True
    if event.type == k.KVM_SYSTEM_EVENT_CRASH:
        vcpu.vm.request_stop(1, GuestError(f"the guest crashed (vCPU {vcpu.id})"))
        return True
    return False


def handle_exit(vcpu: Vcpu, exit: Exit) -> bool | None:
    """Forwarded SBI calls, system events and CSR accesses; None for anything else."""
    if exit.reason == k.KVM_EXIT_RISCV_SBI:
        return handle_sbi(vcpu, exit)  # type: ignore[arg-type]
    if exit.reason == k.KVM_EXIT_SYSTEM_EVENT:
        return handle_system_event(vcpu, exit) or None  # type: ignore[arg-type]
    if exit.reason == k.KVM_EXIT_RISCV_CSR:
        from .csr import handle_csr

        return handle_csr(vcpu, exit) or None  # type: ignore[arg-type]
    return None
