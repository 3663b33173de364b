"""x86 kernel formats on synthetic images, against the model of KVM: bzImage with
the 64-bit boot protocol, ELF64 (64-bit entry or PVH), flat real-mode binaries, the
initrd, and the boot structures they get."""

from __future__ import annotations

import struct

import pytest

from vmm.core.errors import ConfigError, ImageError
from vmm.core.testing.images import x86_bzimage
from vmm.plugins.x86.state import LINUX_64, PVH, REAL_MODE, x86_state

ZERO_PAGE = 0x7000
CMDLINE = 0x20000


def elf64(segments: list[tuple[int, bytes, int]], entry: int, pvh_entry: int | None = None,
          machine: int = 62) -> bytes:
    """An ELF64 executable: (paddr, bytes, mem_size) segments, optional Xen PVH note."""
    notes = b""
    if pvh_entry is not None:
        notes = struct.pack("<III4sI", 4, 4, 18, b"Xen\0", pvh_entry)
    phnum = len(segments) + (1 if notes else 0)
    header_size, ph_size = 64, 56
    offset = header_size + phnum * ph_size
    phdrs, blobs = [], []
    for paddr, data, mem_size in segments:
        phdrs.append(struct.pack("<IIQQQQQQ", 1, 5, offset, paddr, paddr, len(data), mem_size, 4096))
        blobs.append(data)
        offset += len(data)
    if notes:
        phdrs.append(struct.pack("<IIQQQQQQ", 4, 4, offset, 0, 0, len(notes), len(notes), 4))
        blobs.append(notes)
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    header = struct.pack("<16sHHIQQQIHHHHHH", ident, 2, machine, 1, entry, header_size, 0, 0,
                         header_size, ph_size, phnum, 64, 0, 0)
    return header + b"".join(phdrs) + b"".join(blobs)


def _zero_page(vm) -> dict[str, int]:
    memory = vm.vm.memory
    return {
        "boot_flag": memory.read_u(ZERO_PAGE + 0x1FE, 2),
        "type_of_loader": memory.read_u(ZERO_PAGE + 0x210, 1),
        "loadflags": memory.read_u(ZERO_PAGE + 0x211, 1),
        "ramdisk_image": memory.read_u(ZERO_PAGE + 0x218, 4),
        "ramdisk_size": memory.read_u(ZERO_PAGE + 0x21C, 4),
        "cmd_line_ptr": memory.read_u(ZERO_PAGE + 0x228, 4),
        "e820_entries": memory.read_u(ZERO_PAGE + 0x1E8, 1),
        "version": memory.read_u(ZERO_PAGE + 0x206, 2),
    }


def _e820_from_zero_page(vm) -> list[tuple[int, int, int]]:
    memory = vm.vm.memory
    count = memory.read_u(ZERO_PAGE + 0x1E8, 1)
    return [struct.unpack("<QQI", memory.read(ZERO_PAGE + 0x2D0 + 20 * i, 20)) for i in range(count)]


def test_bzimage_gets_the_64_bit_boot_protocol(vmm_vm, tmp_path):
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"\xAB" * 5000)
    vm = vmm_vm("x86", blocked=["virtio"], kernel=x86_bzimage(), mem_mib=64,
                params="console=ttyS0 root=/dev/vda", initrd=str(initrd)).build()
    boot = x86_state(vm.vm).boot
    assert (boot.protocol, boot.entry, boot.boot_struct) == (LINUX_64, 0x100200, ZERO_PAGE)
    assert vm.vm.kernel.guest_start == 0x100000 and vm.vm.kernel.format == "bzimage"
    page = _zero_page(vm)
    assert page["boot_flag"] == 0xAA55 and page["version"] == 0x020F
    assert page["type_of_loader"] == 0xFF
    assert page["loadflags"] & 0x81 == 0x81  # LOADED_HIGH from the image, CAN_USE_HEAP
    assert page["cmd_line_ptr"] == CMDLINE
    assert vm.vm.memory.read(CMDLINE, 29) == b"console=ttyS0 root=/dev/vda\0\0"[:29]
    assert (page["ramdisk_image"], page["ramdisk_size"]) == (vm.vm.initrd.guest_start, 5000)
    assert vm.vm.initrd.guest_start % 4096 == 0
    assert vm.vm.initrd.guest_end <= 64 << 20
    assert vm.vm.memory.read(vm.vm.initrd.guest_start, 4) == b"\xAB" * 4
    assert _e820_from_zero_page(vm) == [(0, 0x9FC00, 1), (0x9FC00, 0x60400, 2),
                                        (0x100000, (64 << 20) - 0x100000, 1)]


def test_bzimage_protocol_too_old_is_refused(vmm_vm):
    vm = vmm_vm("x86", blocked=["virtio"], kernel=x86_bzimage(version=0x0204), mem_mib=64)
    with pytest.raises(ImageError, match=r"boot protocol 2\.04; vmm needs 2\.06 or later"):
        vm.build()


def test_32_bit_bzimage_is_refused(vmm_vm):
    vm = vmm_vm("x86", blocked=["virtio"], kernel=x86_bzimage(xloadflags=0), mem_mib=64)
    with pytest.raises(ImageError, match="32-bit kernel"):
        vm.build()


def test_kernel_command_line_longer_than_the_kernel_accepts(vmm_vm):
    vm = vmm_vm("x86", blocked=["virtio"], kernel=x86_bzimage(cmdline_size=10), mem_mib=64,
                params="console=ttyS0 loglevel=8")
    with pytest.raises(ConfigError, match="accepts at most 10"):
        vm.build()


def test_initrd_that_does_not_fit_is_refused(vmm_vm, tmp_path):
    initrd = tmp_path / "initrd"
    initrd.write_bytes(bytes(8 << 20))
    vm = vmm_vm("x86", blocked=["virtio"], kernel=x86_bzimage(), mem_mib=8, initrd=str(initrd))
    with pytest.raises(ImageError, match="does not fit") as info:
        vm.build()
    assert "\n" not in str(info.value)


def test_elf_without_pvh_note_uses_the_64_bit_protocol(vmm_vm):
    code = b"\xfa\xf4" * 8
    kernel = elf64([(0x200000, code, 0x3000)], entry=0x200000)
    vm = vmm_vm("x86", blocked=["virtio"], kernel=kernel, mem_mib=64, params="x=1").build()
    boot = x86_state(vm.vm).boot
    assert (boot.protocol, boot.entry) == (LINUX_64, 0x200000)
    assert vm.vm.memory.read(0x200000, len(code)) == code
    assert vm.vm.memory.read(0x200000 + len(code), 16) == bytes(16)  # BSS
    page = _zero_page(vm)
    assert page["boot_flag"] == 0xAA55 and page["cmd_line_ptr"] == CMDLINE
    assert vm.vm.kernel.mem_size == 0x3000


def test_elf_with_pvh_note_starts_in_32_bit_mode_with_start_info(vmm_vm, tmp_path):
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"\x01" * 100)
    kernel = elf64([(0x100000, b"\x90" * 32, 32)], entry=0x100010, pvh_entry=0x100000)
    vm = vmm_vm("x86", blocked=["virtio"], kernel=kernel, mem_mib=64, params="pvh",
                initrd=str(initrd)).build()
    boot = x86_state(vm.vm).boot
    assert (boot.protocol, boot.entry) == (PVH, 0x100000)
    memory = vm.vm.memory
    magic, version, _flags, nr_modules, modlist, cmdline, _rsdp, memmap, entries = struct.unpack(
        "<IIIIQQQQI", memory.read(ZERO_PAGE, 52))
    assert (magic, version, nr_modules, cmdline, entries) == (0x336EC578, 1, 1, CMDLINE, 3)
    assert memory.read(cmdline, 4) == b"pvh\0"
    first = struct.unpack("<QQII", memory.read(memmap, 24))
    assert first == (0, 0x9FC00, 1, 0)
    paddr, size = struct.unpack("<QQ", memory.read(modlist, 16))
    assert (paddr, size) == (vm.vm.initrd.guest_start, 100)
    registers = vm.vm.hook.vmm_vcpu_boot_registers(vm=vm.vm, vcpu=vm.vm.vcpus[0])
    assert registers["rbx"] == ZERO_PAGE and registers["cr0"] & 1 and not registers["cr0"] >> 31


@pytest.mark.parametrize("kernel, message", [
    (elf64([(0x200000, b"\x90", 1)], 0x200000, machine=183), "not a 64-bit x86-64"),
    (elf64([(0x200000, b"\x90", 1)], 0x200000)[:100], "damaged ELF program header"),
    (elf64([(0x10000000, b"\x90", 1)], 0x10000000), "outside the guest's 64 MiB"),
    (b"\x7fELF" + bytes(10), "truncated ELF"),
])
def test_bad_elf_images_are_refused_in_one_line(vmm_vm, kernel, message):
    vm = vmm_vm("x86", blocked=["virtio"], kernel=kernel, mem_mib=64)
    with pytest.raises(ImageError, match=message) as info:
        vm.build()
    assert "\n" not in str(info.value)


def test_flat_asks_for_a_flat_real_mode_binary(vmm_vm):
    code = b"\xb0\x41\xe6\x80\xf4"
    vm = vmm_vm("x86", blocked=["virtio"], kernel=code, mem_mib=64,
                options={"flat": True}).build()
    assert x86_state(vm.vm).boot.protocol == REAL_MODE
    assert vm.vm.memory.read(0x10000, len(code)) == code
    registers = vm.vm.hook.vmm_vcpu_boot_registers(vm=vm.vm, vcpu=vm.vm.vcpus[0])
    assert registers["cs.selector"] == 0x1000 and registers["cs.base"] == 0x10000
    assert registers["rip"] == 0


def test_flat_binary_too_big_for_real_mode(vmm_vm):
    vm = vmm_vm("x86", blocked=["virtio"], kernel=b"\x90" * 0x90000, mem_mib=64,
                options={"flat": True})
    with pytest.raises(ImageError, match="real mode can load at most"):
        vm.build()


def test_flat_binary_takes_no_initrd(vmm_vm, tmp_path):
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"x")
    vm = vmm_vm("x86", blocked=["virtio"], kernel=b"\xf4", mem_mib=64, initrd=str(initrd),
                options={"flat": True})
    with pytest.raises(ImageError, match="can't be given to a flat real-mode binary"):
        vm.build()


@pytest.mark.parametrize("name, data", [
    ("empty", b""), ("one byte", b"\xf4"), ("garbage", bytes(range(256)) * 8),
    ("truncated bzImage", None)])
def test_a_file_x86_does_not_recognise_is_refused_without_flat(vmm_vm, name, data):
    """Before: any such file ran as a flat real-mode binary and hung."""
    if data is None:
        data = x86_bzimage()[:0x1F0]  # cut before its setup header
    vm = vmm_vm("x86", blocked=["virtio"], kernel=data, mem_mib=64)
    with pytest.raises(ImageError) as refused:
        vm.build()
    message = str(refused.value)
    assert "vmm recognises a bzImage" in message and "an ELF64 vmlinux" in message
    assert "add --flat" in message and "\n" not in message
    assert ("is empty" if not data else "is not a kernel x86 boots") in message


def test_flat_with_an_empty_file_is_refused(vmm_vm):
    vm = vmm_vm("x86", blocked=["virtio"], kernel=b"", mem_mib=64, options={"flat": True})
    with pytest.raises(ImageError, match="is empty"):
        vm.build()


def test_the_built_in_guest_needs_no_flat(vmm_vm):
    vm = vmm_vm("x86", blocked=["virtio"], mem_mib=64).build()
    assert x86_state(vm.vm).boot.protocol == REAL_MODE


def test_a_nul_in_the_command_line_is_refused(vmm_vm, vmm_arch):
    """Before: x86 wrote the command line as a C string, so it silently ended at the
    NUL (and the rest, say "init=/bin/sh", was dropped); every arch refuses it now."""
    with pytest.raises(ConfigError, match="-p/--params holds a NUL character"):
        vmm_vm(vmm_arch, mem_mib=64, params="console=ttyS0\0init=/bin/sh")
