"""A guest that can never continue ends, on this host's /dev/kvm with the in-kernel
irqchip (which handles HLT without an exit): before, HLT with interrupts disabled
never ended the VM. No output yet: a one-line error, status 1; after output: the
guest stopped on purpose, status 0."""

from __future__ import annotations

import pytest

from .conftest import assert_one_line_error, run_vmm

MOV_DX_COM1 = bytes([0xBA, 0xF8, 0x03])  # mov dx, 0x3f8
CLI_HLT = bytes([0xFA, 0xF4, 0xEB, 0xFD])  # cli; hlt; jmp back to the hlt


def out_char(char: str) -> bytes:
    return bytes([0xB0, ord(char), 0xEE])  # mov al, char; out dx, al


@pytest.mark.parametrize("cpus", ["1", "2"])
def test_halting_with_interrupts_off_before_any_output_is_an_error(require_kvm, tmp_path, cpus):
    guest = tmp_path / "cli-hlt.bin"
    guest.write_bytes(CLI_HLT)
    result = run_vmm("--flat", "-c", cpus, "-k", str(guest), timeout=30)
    assert_one_line_error(result, "the guest can never continue (every vCPU halted with "
                          "interrupts disabled) and wrote no output")


def test_halting_with_interrupts_off_after_output_is_a_stop(require_kvm, tmp_path):
    guest = tmp_path / "hello-hlt.bin"
    guest.write_bytes(MOV_DX_COM1 + out_char("X") + out_char("\n") + CLI_HLT)
    result = run_vmm("--flat", "-k", str(guest), timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"X\n" and result.stderr == b""
