"""arm64 image placement: Image header, kvmtool's DTB and initrd addresses, firmware."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vmm.core.errors import ImageError
from vmm.core.testing import minimal_kernel
from vmm.plugins.arm64 import layout as mm
from vmm.plugins.arm64.image import parse_image_header, place_firmware, place_initrd, place_kernel
from vmm.plugins.arm64.state import arm64_state

MIB = 1 << 20


def test_header_fields_are_read():
    header = parse_image_header(minimal_kernel("arm64", text_offset=0x80000, image_size=0x200000), "k")
    assert (header.text_offset, header.image_size) == (0x80000, 0x200000)


def test_image_size_zero_means_the_legacy_text_offset():
    data = minimal_kernel("arm64", text_offset=0, image_size=0)
    header = parse_image_header(data, "k")
    assert header.text_offset == 0x80000 and header.image_size == len(data)


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (minimal_kernel("arm64", flags=1), "big-endian"),
])
def test_bad_images_are_refused_in_one_line(data, message):
    with pytest.raises(ImageError, match=message) as raised:
        parse_image_header(data, "bad.img")
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("data", [
    b"\x1f\x20\x03\xd5" * 4,                                # shorter than a header
    minimal_kernel("arm64", magic=b"ARMd"[::-1]),           # no magic at offset 56
])
def test_a_headerless_kernel_is_a_flat_binary_at_0x80000(data):
    """kvm-unit-tests' .flat files have no Image header: kvmtool loads them at RAM
    start + 0x80000 and enters at their first byte."""
    header = parse_image_header(data, "test.flat")
    assert not header.has_header
    assert (header.text_offset, header.image_size) == (0x80000, len(data))
    kernel, dtb = place_kernel(data, "test.flat", mm.RAM_START, 64 * MIB)
    assert kernel.guest_start == kernel.entry == mm.RAM_START + 0x80000
    assert kernel.format.startswith("flat binary")
    initrd = place_initrd(100, "env", kernel, dtb)  # an initrd is allowed with it
    assert kernel.guest_start + len(data) <= initrd.guest_start < dtb


def test_flat_kernel_boots_with_x0_at_the_dtb_and_an_initrd(arm64_vm, tmp_path):
    from vmm.plugins.arm64.registers import REGISTER_IDS

    env = tmp_path / "env"
    env.write_bytes(b"TARGET=kvmtool\n")
    flat = tmp_path / "test.flat"
    flat.write_bytes(b"\x1f\x20\x03\xd5" * 16)
    vm = arm64_vm(kernel=str(flat), initrd=str(env)).build()
    regs = vm.backend.system.vms[-1].vcpus[0].regs
    assert regs[REGISTER_IDS["pc"]] == mm.RAM_START + 0x80000
    assert regs[REGISTER_IDS["x0"]] == vm.vm.dtb.guest_start
    initrd = vm.vm.initrd
    assert vm.vm.memory.read(initrd.guest_start, initrd.file_size) == b"TARGET=kvmtool\n"


def test_kernel_is_loaded_at_ram_start_plus_text_offset(arm64_vm):
    kernel = minimal_kernel("arm64", text_offset=0x80000)
    vm = arm64_vm(kernel=kernel).build()
    image = vm.vm.kernel
    assert image.guest_start == image.entry == mm.RAM_START + 0x80000
    assert image.file_size == len(kernel) and image.mem_size >= len(kernel)
    assert vm.vm.memory.read(image.guest_start, len(kernel)) == kernel
    assert arm64_state(vm.vm).kernel is image


def test_dtb_address_is_kvmtools():
    # ALIGN(ram_start + min(ram, 256M) - 1 - (64K + 2M), 2M)
    assert mm.dtb_address(mm.RAM_START, 256 * MIB) == 0x8FE0_0000
    assert mm.dtb_address(mm.RAM_START, 1024 * MIB) == 0x8FE0_0000
    assert mm.dtb_address(mm.RAM_START, 64 * MIB) == 0x83E0_0000


@given(size=st.integers(min_value=1, max_value=32 * MIB))
def test_initrd_sits_just_below_the_dtb(size):
    kernel, dtb = place_kernel(minimal_kernel("arm64"), "k", mm.RAM_START, 64 * MIB)
    initrd = place_initrd(size, "i", kernel, dtb)
    assert initrd.guest_start % 4 == 0
    assert initrd.guest_start + size <= dtb < initrd.guest_start + size + 4


def test_initrd_too_big_is_an_image_error():
    kernel, dtb = place_kernel(minimal_kernel("arm64"), "k", mm.RAM_START, 64 * MIB)
    with pytest.raises(ImageError, match="doesn't fit in RAM"):
        place_initrd(64 * MIB, "big.cpio", kernel, dtb)


def test_dtb_that_does_not_fit_in_ram_is_an_image_error():
    with pytest.raises(ImageError, match="don't fit in 2 MiB of RAM; use -m"):
        place_kernel(minimal_kernel("arm64"), "k", mm.RAM_START, 2 * MIB)


def test_kernel_overlapping_the_dtb_is_an_image_error():
    big = minimal_kernel("arm64", image_size=63 * MIB)
    with pytest.raises(ImageError, match="don't fit"):
        place_kernel(big, "k", mm.RAM_START, 64 * MIB)


def test_firmware_at_ram_start_and_dtb_after_it():
    firmware, dtb = place_firmware(b"\x00" * (3 * MIB), "fw", mm.RAM_START, 64 * MIB)
    assert firmware.guest_start == firmware.entry == mm.RAM_START
    assert dtb == mm.RAM_START + 4 * MIB
    with pytest.raises(ImageError, match="firmware"):
        place_firmware(b"\x00" * (63 * MIB), "fw", mm.RAM_START, 64 * MIB)


def test_firmware_boots_with_x0_at_the_dtb(arm64_vm, tmp_path):
    from vmm.plugins.arm64.registers import REGISTER_IDS

    firmware = tmp_path / "fw.bin"
    firmware.write_bytes(b"\x1f\x20\x03\xd5" * 16)  # a raw binary, no Image header
    vm = arm64_vm(kernel=None, firmware=str(firmware)).build()
    regs = vm.backend.system.vms[-1].vcpus[0].regs
    assert regs[REGISTER_IDS["pc"]] == mm.RAM_START
    assert regs[REGISTER_IDS["x0"]] == mm.RAM_START + mm.DTB_ALIGN
    assert vm.vm.dtb.guest_start == mm.RAM_START + mm.DTB_ALIGN


def test_initrd_and_dtb_are_announced(arm64_vm, tmp_path):
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"07070100" * 100)
    seen = []

    class Recorder:
        @staticmethod
        def vmm_image_loaded(vm, image):
            seen.append((image.kind, image.guest_start, image.file_size, image.mem_size))

    from vmm import hookimpl

    Recorder.vmm_image_loaded = staticmethod(hookimpl(Recorder.vmm_image_loaded))
    vm = arm64_vm(initrd=str(initrd), extra_plugins=[("recorder", Recorder)]).build()
    dtb = arm64_state(vm.vm).dtb_address
    assert seen[0] == ("initrd", (dtb - 800) & ~3, 800, 800)
    assert seen[1] == ("dtb", dtb, len(arm64_state(vm.vm).dtb), mm.DTB_WINDOW)
