"""riscv ONE_REG ids and the vCPU register access the core uses by name.

An id is ``KVM_REG_RISCV | size | type | subtype | index`` where the index is a
field's offset in its struct divided by the register width, as the kernel's
``KVM_REG_RISCV_CORE_REG(name)`` macros compute it.

Names: core registers by their ABI names (``pc``, ``a0``, ``mode``...), the others as
``config.<field>``, ``csr.<field>`` and ``timer.<field>``.
"""

from __future__ import annotations

import errno
from functools import cache
from typing import TYPE_CHECKING

from vmm.core.errors import KvmError

from . import uapi

if TYPE_CHECKING:
    from vmm.core.kvm.fds import VcpuFd

#: name prefix -> (register type, struct whose fields it names, width of one index step)
_TYPES: dict[str, tuple[int, str, str]] = {
    "config": (uapi.KVM_REG_RISCV_CONFIG, "struct kvm_riscv_config", "unsigned long"),
    "csr": (uapi.KVM_REG_RISCV_CSR, "struct kvm_riscv_csr", "unsigned long"),
    "timer": (uapi.KVM_REG_RISCV_TIMER, "struct kvm_riscv_timer", "uint64_t"),
}

#: The core registers in the order of ``struct kvm_riscv_core``.
CORE_NAMES: tuple[str, ...] = tuple(
    name for name, _ in uapi.ffi.typeof("struct user_regs_struct").fields
) + ("mode",)


def size_field(nbytes: int) -> int:
    """The ONE_REG id's size field for a register of ``nbytes`` bytes (a power of 2)."""
    return (nbytes.bit_length() - 1) << uapi.KVM_REG_SIZE_SHIFT


def reg_id(reg_type: int, index: int, nbytes: int, subtype: int = 0) -> int:
    """Compose a riscv ONE_REG id."""
    return (
        uapi.KVM_REG_RISCV
        | size_field(nbytes)
        | reg_type << uapi.KVM_REG_RISCV_TYPE_SHIFT
        | subtype << uapi.KVM_REG_RISCV_SUBTYPE_SHIFT
        | index
    )


@cache
def register_id(name: str) -> int:
    """The ONE_REG id of a register by name (``pc``, ``config.isa``, ``timer.frequency``)."""
    kind, dot, field = name.partition(".")
    if not dot:
        if name == "mode":
            offset = uapi.ffi.offsetof("struct kvm_riscv_core", "mode")
        else:
            offset = uapi.ffi.offsetof("struct kvm_riscv_core", "regs") + uapi.ffi.offsetof(
                "struct user_regs_struct", name
            )
        return reg_id(uapi.KVM_REG_RISCV_CORE, offset // uapi.ULONG_SIZE, uapi.ULONG_SIZE)
    if kind not in _TYPES:
        raise KeyError(name)
    reg_type, struct_name, width = _TYPES[kind]
    step = uapi.ffi.sizeof(width)
    return reg_id(reg_type, uapi.ffi.offsetof(struct_name, field) // step, step)


def isa_ext_id(ext_id: int) -> int:
    """The ONE_REG id of one ISA extension's on/off register (``ISA_EXT`` single)."""
    return reg_id(uapi.KVM_REG_RISCV_ISA_EXT, ext_id, uapi.ULONG_SIZE,
                  uapi.KVM_REG_RISCV_SINGLE)


def sbi_ext_id(ext_id: int) -> int:
    """The ONE_REG id of one SBI extension's on/off register (``SBI_EXT`` single)."""
    return reg_id(uapi.KVM_REG_RISCV_SBI_EXT, ext_id, uapi.ULONG_SIZE,
                  uapi.KVM_REG_RISCV_SINGLE)


def register_size(name: str) -> int:
    """Bytes of a named register."""
    kind = name.partition(".")[0]
    if kind in _TYPES:
        return uapi.ffi.sizeof(_TYPES[kind][2])
    return uapi.ULONG_SIZE


class RiscvRegisters:
    """``vcpu.registers``: named register access through KVM_GET/SET_ONE_REG."""

    def __init__(self, fd: VcpuFd) -> None:
        self.fd = fd

    def set(self, name: str, value: int) -> None:
        """Write register ``name``."""
        self.fd.set_one_reg(register_id(name), value, register_size(name))

    def get(self, name: str) -> int:
        """Read register ``name``."""
        return self.fd.get_one_reg(register_id(name), register_size(name))

    def get_optional(self, name: str) -> int | None:
        """Read a register this KVM may not have (None on ENOENT/EINVAL)."""
        try:
            return self.get(name)
        except KvmError as error:
            if error.errno in _ABSENT:
                return None
            raise


#: An older or smaller KVM has no such register.
_ABSENT = (errno.ENOENT, errno.EINVAL)


def dump(registers: RiscvRegisters) -> str:
    """Render the core registers, four per line."""
    cells = [f"{name:>4}={registers.get(name):016x}" for name in CORE_NAMES]
    return "\n".join("  ".join(cells[i : i + 4]) for i in range(0, len(cells), 4))
