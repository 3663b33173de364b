"""The exits riscv KVM forwards to user space beyond the core's: SBI calls and CSR
accesses, decoded from ``kvm_run`` (``vmm_decode_exit``) and answered there.

Both answers are written back into ``kvm_run`` before the next KVM_RUN: a0/a1 of an
SBI call (``riscv_sbi.ret``), the value a CSR instruction reads (``riscv_csr``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vmm.core.kvm import ioctls as k
from vmm.core.kvm.exits import Exit

if TYPE_CHECKING:
    from vmm.core.vcpu import Vcpu

_U64 = 2**64 - 1


class RiscvSbiExit(Exit):
    """KVM_EXIT_RISCV_SBI: an SBI call KVM forwards to user space."""

    __slots__ = ("extension_id", "function_id", "args")

    def __init__(self, reason: int, extension_id: int = 0, function_id: int = 0,
                 args: list[int] | None = None) -> None:
        self.reason, self.extension_id, self.function_id = reason, extension_id, function_id
        self.args = [] if args is None else args


class RiscvCsrExit(Exit):
    """KVM_EXIT_RISCV_CSR: a CSR access KVM forwards to user space (e.g. ``seed``)."""

    __slots__ = ("csr_num", "new_value", "write_mask")

    def __init__(self, reason: int, csr_num: int = 0, new_value: int = 0,
                 write_mask: int = 0) -> None:
        self.reason, self.csr_num, self.new_value, self.write_mask = (
            reason, csr_num, new_value, write_mask)


def decode_exit(reason: int, run: Any) -> Exit | None:
    """The SBI call or CSR access in ``run`` (cffi ``struct kvm_run``); None for an
    exit reason riscv doesn't own."""
    if reason == k.KVM_EXIT_RISCV_SBI:
        sbi = run.riscv_sbi
        return RiscvSbiExit(reason, sbi.extension_id, sbi.function_id, list(sbi.args))
    if reason == k.KVM_EXIT_RISCV_CSR:
        csr = run.riscv_csr
        return RiscvCsrExit(reason, csr.csr_num, csr.new_value, csr.write_mask)
    return None


def set_sbi_return(vcpu: Vcpu, error: int, value: int) -> None:
    """Write the SBI return registers (a0, a1) the guest sees on re-entry."""
    ret = vcpu.fd.kvm_run.riscv_sbi.ret
    ret[0] = error & _U64
    ret[1] = value & _U64


def set_csr_return(vcpu: Vcpu, value: int) -> None:
    """Write the value the guest's CSR instruction reads, seen on re-entry."""
    vcpu.fd.kvm_run.riscv_csr.ret_value = value & _U64
