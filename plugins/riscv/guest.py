"""vmm's built-in riscv guest: print a greeting through SBI, then power off.

Used when ``vmm run --arch riscv`` gets no kernel. It is a riscv ``Image`` (the
header declared in :mod:`.uapi`) whose code prints its message one character at a
time with vmm's SBI console call (experimental extension 0x08000000, function 0),
then asks SBI SRST for a shutdown. ``guests/hello.bin`` holds the bytes
:func:`build_hello` produces (a test checks that they match); rebuild it with
``python -m vmm.plugins.riscv.guest``.

Instructions are encoded by small functions named after them, from the RISC-V
unprivileged manual's formats, so each field can be checked by eye.
"""

from __future__ import annotations

from pathlib import Path

GREETING = b"Hello from the vmm riscv guest\n"
GUEST_PATH = Path(__file__).with_name("guests") / "hello.bin"

SBI_EXT_VMM_CONSOLE = 0x0800_0000
SBI_EXT_SRST = 0x5352_5354
ZERO, S0, A0, A1, A6, A7 = 0, 8, 10, 11, 16, 17
TEXT_OFFSET = 0x20_0000
HEADER_VERSION_0_2 = 2
INSTRUCTION = 4


def lui(rd: int, upper20: int) -> int:
    """LUI rd, upper20 (U-type)."""
    return (upper20 & 0xFFFFF) << 12 | rd << 7 | 0x37


def auipc(rd: int, upper20: int) -> int:
    """AUIPC rd, upper20 (U-type)."""
    return (upper20 & 0xFFFFF) << 12 | rd << 7 | 0x17


def addi(rd: int, rs1: int, imm12: int) -> int:
    """ADDI rd, rs1, imm12 (I-type)."""
    return (imm12 & 0xFFF) << 20 | rs1 << 15 | rd << 7 | 0x13


def addiw(rd: int, rs1: int, imm12: int) -> int:
    """ADDIW rd, rs1, imm12 (I-type, RV64)."""
    return (imm12 & 0xFFF) << 20 | rs1 << 15 | rd << 7 | 0x1B


def lbu(rd: int, rs1: int, imm12: int) -> int:
    """LBU rd, imm12(rs1) (I-type, funct3 4)."""
    return (imm12 & 0xFFF) << 20 | rs1 << 15 | 0b100 << 12 | rd << 7 | 0x03


def beq(rs1: int, rs2: int, offset: int) -> int:
    """BEQ rs1, rs2, offset (B-type; offset in bytes from this instruction)."""
    imm = offset & 0x1FFF
    return ((imm >> 12 & 1) << 31 | (imm >> 5 & 0x3F) << 25 | rs2 << 20 | rs1 << 15
            | (imm >> 1 & 0xF) << 8 | (imm >> 11 & 1) << 7 | 0x63)


def jal(rd: int, offset: int) -> int:
    """JAL rd, offset (J-type; offset in bytes from this instruction)."""
    imm = offset & 0x1F_FFFF
    return ((imm >> 20 & 1) << 31 | (imm >> 1 & 0x3FF) << 21 | (imm >> 11 & 1) << 20
            | (imm >> 12 & 0xFF) << 12 | rd << 7 | 0x6F)


ECALL = 0x0000_0073


def li32(rd: int, value: int) -> list[int]:
    """Load a 32-bit constant with LUI + ADDIW (rounding for ADDIW's signed immediate)."""
    low = value & 0xFFF
    upper = (value + 0x800) >> 12 if low & 0x800 else value >> 12
    return [lui(rd, upper), addiw(rd, rd, low)]


def hello_code(message: bytes = GREETING) -> bytes:
    """The guest's code, followed by its NUL-terminated message."""
    loop = [
        lbu(A0, S0, 0),
        0,  # beq a0, zero, done: patched below
        *li32(A7, SBI_EXT_VMM_CONSOLE),
        addi(A6, ZERO, 0),
        ECALL,
        addi(S0, S0, 1),
    ]
    loop.append(jal(ZERO, -INSTRUCTION * len(loop)))
    done = [*li32(A7, SBI_EXT_SRST), addi(A6, ZERO, 0), addi(A0, ZERO, 0), addi(A1, ZERO, 0),
            ECALL, jal(ZERO, 0)]
    loop[1] = beq(A0, ZERO, INSTRUCTION * (len(loop) - 1))
    prologue_length = 2
    message_offset = INSTRUCTION * (prologue_length + len(loop) + len(done))
    words = [auipc(S0, 0), addi(S0, S0, message_offset), *loop, *done]
    return b"".join(word.to_bytes(INSTRUCTION, "little") for word in words) + message + b"\0"


def build_hello() -> bytes:
    """The whole built-in guest: an Image header whose code0 jumps over it, the code."""
    from .image import HEADER, HEADER_SIZE, MAGIC, MAGIC2
    from .uapi import ffi

    code = hello_code()
    header = ffi.new(f"{HEADER} *")
    header.code0 = jal(ZERO, HEADER_SIZE)
    header.text_offset = TEXT_OFFSET
    header.image_size = HEADER_SIZE + len(code)
    header.version = HEADER_VERSION_0_2
    header.magic = int.from_bytes(MAGIC, "little")
    header.magic2 = int.from_bytes(MAGIC2, "little")
    return bytes(ffi.buffer(header)) + code


if __name__ == "__main__":  # pragma: no cover - regenerates guests/hello.bin
    GUEST_PATH.write_bytes(build_hello())
    print(f"wrote {GUEST_PATH} ({GUEST_PATH.stat().st_size} bytes)")
