"""The smallest useful guest code for each architecture: stop the VM cleanly.

Each arch's :func:`poweroff_code` is what :func:`vmm.core.testing.images.minimal_kernel`
puts after the image header. On real KVM the guest then asks to power off the way
its platform defines (PSCI SYSTEM_OFF on arm64, SBI SRST on riscv); x86 has no
firmware-free power-off, so it halts with interrupts disabled (KVM_EXIT_HLT without
an in-kernel irqchip).

Instructions are encoded by small functions named after the instruction, from the
architecture manuals' field layouts, so a reader can check each field.
"""

from __future__ import annotations

import struct

# --------------------------------------------------------------------------- x86

#: ``cli``, ``hlt``, ``jmp`` back to the ``hlt``: valid in 16-, 32- and 64-bit mode.
X86_HALT = bytes([0xFA, 0xF4, 0xEB, 0xFD])


# --------------------------------------------------------------------------- arm64

PSCI_0_2_FN_SYSTEM_OFF = 0x8400_0008


def a64_movz(rd: int, imm16: int, shift: int = 0) -> int:
    """MOVZ Xd, #imm16, LSL #shift (64-bit)."""
    return 0xD280_0000 | (shift // 16) << 21 | (imm16 & 0xFFFF) << 5 | rd


def a64_movk(rd: int, imm16: int, shift: int = 0) -> int:
    """MOVK Xd, #imm16, LSL #shift (64-bit)."""
    return 0xF280_0000 | (shift // 16) << 21 | (imm16 & 0xFFFF) << 5 | rd


def a64_hvc(imm16: int = 0) -> int:
    """HVC #imm16."""
    return 0xD400_0002 | (imm16 & 0xFFFF) << 5


def a64_branch(offset: int) -> int:
    """B to ``offset`` bytes from this instruction (a multiple of 4)."""
    return 0x1400_0000 | ((offset >> 2) & 0x3FF_FFFF)


def arm64_poweroff() -> bytes:
    """x0 = PSCI SYSTEM_OFF; HVC #0; then spin (PSCI does not return on success)."""
    words = [
        a64_movz(0, PSCI_0_2_FN_SYSTEM_OFF & 0xFFFF),
        a64_movk(0, PSCI_0_2_FN_SYSTEM_OFF >> 16, 16),
        a64_hvc(0),
        a64_branch(0),
    ]
    return struct.pack(f"<{len(words)}I", *words)


# --------------------------------------------------------------------------- riscv

SBI_EXT_SRST = 0x5352_5354  # "SRST"
SBI_SRST_SHUTDOWN = 0
REG_A0, REG_A1, REG_A6, REG_A7 = 10, 11, 16, 17


def rv_lui(rd: int, upper20: int) -> int:
    """LUI rd, upper20."""
    return (upper20 & 0xFFFFF) << 12 | rd << 7 | 0x37


def rv_addi(rd: int, rs1: int, imm12: int) -> int:
    """ADDI rd, rs1, imm12."""
    return (imm12 & 0xFFF) << 20 | rs1 << 15 | rd << 7 | 0x13


def rv_addiw(rd: int, rs1: int, imm12: int) -> int:
    """ADDIW rd, rs1, imm12 (RV64)."""
    return (imm12 & 0xFFF) << 20 | rs1 << 15 | rd << 7 | 0x1B


def rv_jal(rd: int, offset: int) -> int:
    """JAL rd, offset (bytes from this instruction, even)."""
    imm = offset & 0x1F_FFFF
    return (
        (imm >> 20 & 1) << 31
        | (imm >> 1 & 0x3FF) << 21
        | (imm >> 11 & 1) << 20
        | (imm >> 12 & 0xFF) << 12
        | rd << 7
        | 0x6F
    )


RV_ECALL = 0x0000_0073


def rv_li32(rd: int, value: int) -> list[int]:
    """Load a 32-bit constant: LUI + ADDIW, with the carry ADDIW's sign needs."""
    low = value & 0xFFF
    upper = (value + 0x800) >> 12 if low & 0x800 else value >> 12
    return [rv_lui(rd, upper), rv_addiw(rd, rd, low)]


def riscv_poweroff() -> bytes:
    """SBI SRST system_reset(shutdown, no reason) by ECALL; then spin."""
    words = [
        *rv_li32(REG_A7, SBI_EXT_SRST),
        rv_addi(REG_A6, 0, 0),
        rv_addi(REG_A0, 0, SBI_SRST_SHUTDOWN),
        rv_addi(REG_A1, 0, 0),
        RV_ECALL,
        rv_jal(0, 0),
    ]
    return struct.pack(f"<{len(words)}I", *words)


def poweroff_code(arch: str) -> bytes:
    """The guest code that stops a VM of ``arch`` (see the module docstring)."""
    if arch == "x86":
        return X86_HALT
    if arch == "arm64":
        return arm64_poweroff()
    if arch == "riscv":
        return riscv_poweroff()
    raise ValueError(f"no guest code for architecture {arch!r}")
