"""riscv Image, firmware and initrd placement; bad input is a one-line error."""

from __future__ import annotations

import gzip

import pytest

from vmm.core.errors import ImageError
from vmm.core.testing import minimal_kernel
from vmm.plugins.riscv.image import FDT_MAX_SIZE

from .conftest import vmm

RAM_START = 0x8000_0000
MIB = 1 << 20


def test_image_goes_to_ram_start_plus_text_offset(riscv_vm):
    vm = riscv_vm(kernel=minimal_kernel("riscv", image_size=3 * MIB)).build()
    kernel = vm.vm.kernel
    assert kernel.guest_start == kernel.entry == RAM_START + 2 * MIB
    assert kernel.mem_size == 3 * MIB
    assert kernel.format == "riscv Image"
    assert vm.vm.memory.read(kernel.guest_start, kernel.file_size) == minimal_kernel(
        "riscv", image_size=3 * MIB)


@pytest.mark.parametrize("text_offset, start", [(0, RAM_START), (0x1000, RAM_START + 2 * MIB),
                                                (4 * MIB, RAM_START + 4 * MIB)])
def test_kernel_start_is_2mib_aligned(riscv_vm, text_offset, start):
    vm = riscv_vm(kernel=minimal_kernel("riscv", text_offset=text_offset)).build()
    assert vm.vm.kernel.guest_start == start


def test_old_riscv_magic_is_accepted(riscv_vm):
    image = bytearray(minimal_kernel("riscv"))
    image[0x38:0x3C] = bytes(4)  # no "RSC\x05": header version 0.1
    assert image[0x30:0x38] == b"RISCV\0\0\0"
    vm = riscv_vm(kernel=bytes(image)).build()
    assert vm.vm.kernel.guest_start == RAM_START + 2 * MIB


@pytest.mark.parametrize("data, message", [
    (b"\0" * 4096, r"is not a riscv Image \(no \"RSC\\x05\" magic at offset 0x38\)"),
    (b"MZ" + b"\0" * 30, r"too short for a riscv Image header"),
    (gzip.compress(b"\0" * 200), r"gzip-compressed: decompress it"),
    (b"\x7fELF" + b"\0" * 200, r"ELF file \(vmlinux\)"),
])
def test_bad_kernels(riscv_vm, data, message):
    with pytest.raises(ImageError, match=message):
        riscv_vm(kernel=data).build()


def test_kernel_too_big_for_ram(riscv_vm):
    with pytest.raises(ImageError, match=r"does not fit in 16 MiB of RAM; give -m 35 or more"):
        riscv_vm(kernel=minimal_kernel("riscv", image_size=32 * MIB), mem_mib=16).build()


def test_initrd_placed_high_below_the_device_tree(riscv_vm, tmp_path):
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"\x55" * 10_000)
    vm = riscv_vm(initrd=str(initrd), mem_mib=64).build()
    ram_end = RAM_START + 64 * MIB
    assert vm.vm.dtb.guest_start == ram_end - FDT_MAX_SIZE
    assert vm.vm.initrd.guest_start % 4096 == 0
    assert vm.vm.initrd.guest_end <= vm.vm.dtb.guest_start
    assert vm.vm.initrd.guest_start > vm.vm.dtb.guest_start - 4096 - 10_000


def test_initrd_too_big(riscv_vm, tmp_path):
    initrd = tmp_path / "initrd"
    initrd.write_bytes(bytes(15 * MIB))
    with pytest.raises(ImageError, match=r"initrd .* \(15.0 MiB\) does not fit in RAM above the "
                                         r"kernel \(.* free\); give -m \d+ or more"):
        riscv_vm(initrd=str(initrd), mem_mib=16).build()


def test_firmware_at_ram_start(riscv_vm, tmp_path):
    firmware = tmp_path / "fw.bin"
    firmware.write_bytes(b"\x13\x00\x00\x00" * 16)
    vm = riscv_vm(kernel=None, firmware=str(firmware)).build()
    assert vm.vm.kernel.guest_start == RAM_START == vm.vm.kernel.entry
    core = vm.backend.system.vms[-1].vcpus[0].arch["core"]
    assert core[0] == RAM_START and core[11] == vm.vm.dtb.guest_start


def _one_line_error(result) -> str:
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_bad_magic_on_the_command_line(tmp_path):
    bad = tmp_path / "bad.img"
    bad.write_bytes(b"\0" * 4096)
    line = _one_line_error(vmm("run", "--arch", "riscv", "--dry-run", "-k", str(bad)))
    assert "is not a riscv Image" in line and "give an uncompressed riscv64 Image" in line


def test_initrd_too_big_on_the_command_line(kernel_path, tmp_path):
    initrd = tmp_path / "initrd"
    initrd.write_bytes(bytes(15 * MIB))
    line = _one_line_error(vmm("run", "--arch", "riscv", "--dry-run", "-k", kernel_path,
                               "-i", str(initrd), "-m", "16"))
    assert "does not fit in RAM above the kernel" in line and "give -m" in line


def test_builtin_guest_is_what_its_builder_makes():
    from vmm.plugins.riscv.guest import GUEST_PATH, build_hello

    assert GUEST_PATH.read_bytes() == build_hello()


def test_builtin_guest_encodings():
    from vmm.plugins.riscv import guest

    assert guest.jal(0, 64) == 0x0400_006F
    assert guest.jal(0, -28) == 0xFE5F_F06F
    assert guest.lbu(guest.A0, guest.S0, 0) == 0x0004_4503
    assert guest.beq(guest.A0, guest.ZERO, 28) == 0x0005_0E63
    assert guest.auipc(guest.S0, 0) == 0x0000_0417
    assert guest.li32(guest.A7, 0x5352_5354) == [0x5352_58B7, 0x3548_889B]


def test_run_without_a_kernel_boots_the_builtin_guest():
    result = vmm("run", "--arch", "riscv", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "KVM_RUN" not in result.stdout  # dry run: built, not run
    assert "vcpu0: KVM_SET_ONE_REG(id=0x8030000002000000)" in result.stdout
