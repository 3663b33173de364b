"""The built-in arm64 guest: shipped bytes match the generator, its code does what it says."""

from __future__ import annotations

import struct

from vmm.plugins.arm64 import guest as builtin_guest
from vmm.plugins.arm64.image import parse_image_header
from vmm.plugins.arm64.layout import UART_BASE


def test_shipped_guest_matches_the_generator():
    assert builtin_guest.GUEST_PATH.read_bytes() == builtin_guest.build()


def test_guest_is_a_valid_image():
    header = parse_image_header(builtin_guest.build(), "hello.bin")
    assert header.text_offset == 0


def decode(word: int) -> tuple:
    """Just enough of an A64 decoder for the guest's instructions."""
    if word & 0xFF80_0000 == 0xD280_0000:
        return ("movz", word & 0x1F, (word >> 5) & 0xFFFF, ((word >> 21) & 3) * 16)
    if word & 0xFF80_0000 == 0xF280_0000:
        return ("movk", word & 0x1F, (word >> 5) & 0xFFFF, ((word >> 21) & 3) * 16)
    if word & 0xFFC0_0000 == 0x3900_0000:
        return ("strb", word & 0x1F, (word >> 5) & 0x1F, (word >> 10) & 0xFFF)
    if word & 0xFFE0_001F == 0xD400_0002:
        return ("hvc", (word >> 5) & 0xFFFF)
    if word & 0xFC00_0000 == 0x1400_0000:
        return ("b", word & 0x3FF_FFFF)
    raise AssertionError(f"unexpected instruction {word:#010x}")


def run(code: bytes) -> tuple[bytes, int]:
    """Interpret the guest: what it writes to the UART and the PSCI function it calls."""
    regs = [0] * 32
    written = bytearray()
    for (word,) in struct.iter_unpack("<I", code):
        op, *args = decode(word)
        if op == "movz":
            regs[args[0]] = args[1] << args[2]
        elif op == "movk":
            rd, imm, shift = args
            regs[rd] = (regs[rd] & ~(0xFFFF << shift)) | imm << shift
        elif op == "strb":
            assert regs[args[1]] + args[2] == UART_BASE
            written.append(regs[args[0]] & 0xFF)
        elif op == "hvc":
            return bytes(written), regs[0]
    raise AssertionError("the guest never calls PSCI")


def test_guest_prints_its_greeting_and_powers_off():
    written, function = run(builtin_guest.guest_code())
    assert written == builtin_guest.GREETING
    assert function == builtin_guest.PSCI_0_2_FN_SYSTEM_OFF


def test_vmm_uses_it_without_a_kernel(arm64_vm):
    vm = arm64_vm(kernel=None).build()
    assert vm.vm.kernel.path == str(builtin_guest.GUEST_PATH)
