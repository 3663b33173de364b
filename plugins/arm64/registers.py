"""arm64 vCPU registers through KVM_GET/SET_ONE_REG, by name.

Core register ids are ``KVM_REG_ARM64 | size | KVM_REG_ARM_CORE | offset / 4``, the
offset being that of the field in ``struct kvm_regs`` as cffi lays it out; system
register ids are built from their (op0, op1, CRn, CRm, op2) encoding.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from vmm.core.errors import KvmError

from . import uapi as u

if TYPE_CHECKING:
    from vmm.core.kvm.fds import VcpuFd

CORE_REG_WORD = u.ffi.sizeof("uint32_t")
_SIZE_FIELDS = {
    u.ffi.sizeof("uint32_t"): u.KVM_REG_SIZE_U32,
    u.ffi.sizeof("uint64_t"): u.KVM_REG_SIZE_U64,
    u.ffi.sizeof("union kvm_arm64_vreg"): u.KVM_REG_SIZE_U128,
}

# PSTATE bits (arch/arm64/include/uapi/asm/ptrace.h).
PSR_MODE_EL1H = 0x5
PSR_F_BIT = 1 << 6
PSR_I_BIT = 1 << 7
PSR_A_BIT = 1 << 8
PSR_D_BIT = 1 << 9
#: The state Linux's arm64 boot protocol asks for: EL1h with D, A, I and F masked.
BOOT_PSTATE = PSR_MODE_EL1H | PSR_D_BIT | PSR_A_BIT | PSR_I_BIT | PSR_F_BIT

#: MPIDR_EL1's affinity fields (Aff3 in 39:32, Aff2..Aff0 in 23:0).
MPIDR_HWID_MASK = 0xFF_00FF_FFFF


def core_reg_id(*path: str | int) -> int:
    """The ONE_REG id of a field of ``struct kvm_regs`` (e.g. ``"regs", "pc"``)."""
    field_type = u.ffi.typeof("struct kvm_regs")
    offset = u.ffi.offsetof(field_type, *path)
    for step in path:
        field_type = field_type.item if isinstance(step, int) else dict(field_type.fields)[step].type
    size_field = _SIZE_FIELDS[u.ffi.sizeof(field_type)]
    return u.KVM_REG_ARM64 | size_field | u.KVM_REG_ARM_CORE | (offset // CORE_REG_WORD)


def sysreg_id(op0: int, op1: int, crn: int, crm: int, op2: int) -> int:
    """The ONE_REG id of a 64-bit system register (the kernel's ARM64_SYS_REG)."""
    return (
        u.KVM_REG_ARM64
        | u.KVM_REG_SIZE_U64
        | u.KVM_REG_ARM64_SYSREG
        | (op0 << u.KVM_REG_ARM64_SYSREG_OP0_SHIFT)
        | (op1 << u.KVM_REG_ARM64_SYSREG_OP1_SHIFT)
        | (crn << u.KVM_REG_ARM64_SYSREG_CRN_SHIFT)
        | (crm << u.KVM_REG_ARM64_SYSREG_CRM_SHIFT)
        | (op2 << u.KVM_REG_ARM64_SYSREG_OP2_SHIFT)
    )


def _register_ids() -> dict[str, int]:
    ids = {f"x{index}": core_reg_id("regs", "regs", index) for index in range(31)}
    ids["sp"] = core_reg_id("regs", "sp")
    ids["pc"] = core_reg_id("regs", "pc")
    ids["pstate"] = core_reg_id("regs", "pstate")
    ids["sp_el1"] = core_reg_id("sp_el1")
    ids["elr_el1"] = core_reg_id("elr_el1")
    ids["spsr_el1"] = core_reg_id("spsr", 0)
    ids["fpsr"] = core_reg_id("fp_regs", "fpsr")
    ids["fpcr"] = core_reg_id("fp_regs", "fpcr")
    ids["mpidr_el1"] = sysreg_id(3, 0, 0, 0, 5)
    ids["sctlr_el1"] = sysreg_id(3, 0, 1, 0, 0)
    ids["esr_el1"] = sysreg_id(3, 0, 5, 2, 0)
    ids["far_el1"] = sysreg_id(3, 0, 6, 0, 0)
    ids["vbar_el1"] = sysreg_id(3, 0, 12, 0, 0)
    return ids


#: Register names -> ONE_REG ids, for everything ``Arm64Registers`` knows.
REGISTER_IDS: dict[str, int] = _register_ids()
#: Register sizes in bytes, from the id's size field.
REGISTER_SIZES = {name: 1 << ((reg_id >> u.KVM_REG_SIZE_SHIFT) & 0xF)
                  for name, reg_id in REGISTER_IDS.items()}


class Arm64Registers:
    """``vcpu.registers`` for arm64: ``set(name, value)`` / ``get(name)`` via ONE_REG."""

    def __init__(self, fd: VcpuFd) -> None:
        self._fd = fd

    def set(self, name: str, value: int) -> None:
        """Write register ``name`` (x0..x30, sp, pc, pstate, ...)."""
        self._fd.set_one_reg(_id(name), value, REGISTER_SIZES[name])

    def get(self, name: str) -> int:
        """Read register ``name``."""
        return self._fd.get_one_reg(_id(name), REGISTER_SIZES[name])


def _id(name: str) -> int:
    try:
        return REGISTER_IDS[name]
    except KeyError:
        raise KeyError(f"arm64 has no register named {name!r}") from None


DUMP_ORDER = ("pc", "pstate", "sp", "sp_el1", "elr_el1", "spsr_el1", "esr_el1", "far_el1",
              "sctlr_el1", "vbar_el1", "mpidr_el1")


def dump_registers(registers: Arm64Registers) -> str:
    """A readable dump: the control registers, then x0..x30 four to a line."""
    lines = []
    for name in DUMP_ORDER:
        lines.append(f"{name:>9} {_read(registers, name)}")
    gprs = [f"x{index:<2} {_read(registers, f'x{index}')}" for index in range(31)]
    for start in range(0, len(gprs), 4):
        lines.append("  ".join(gprs[start : start + 4]))
    return "\n".join(lines)


def _read(registers: Arm64Registers, name: str) -> str:
    try:
        return f"{registers.get(name):016x}"
    except KvmError as error:
        return f"<{errno.errorcode.get(error.errno, error.errno)}>"
