"""Header-valid minimal kernel images for each architecture, for loader and VM tests.

``minimal_kernel("x86")`` is a bzImage (boot protocol 2.15, 64-bit capable),
``minimal_kernel("arm64")`` an arm64 ``Image``, ``minimal_kernel("riscv")`` a riscv
``Image``; each carries :func:`vmm.core.testing.guest_code.poweroff_code` as its
code, so a real KVM run of it stops at once.

The headers are built from the published layouts (Linux's
Documentation/arch/x86/boot.rst, arm64/booting.rst, riscv/boot-image-header.rst)
with ``struct`` formats written here on purpose, independently of the arch plugins'
cffi declarations: like the model of KVM, a test image must not share the tables of
the loader it tests, or it could not catch a layout bug.

Arch plugin authors: use these in your loader tests, and vary the fields with the
keyword arguments (``text_offset``, ``image_size``, ``flags``, ``version``...) to test
your refusals; ``HEADER_FIELDS`` tells where each field lives.
"""

from __future__ import annotations

import struct
from typing import Any

from ..layout import align_up
from .guest_code import a64_branch, poweroff_code, rv_jal

Field = tuple[str, str]

# ------------------------------------------------------------------ x86 bzImage

#: The real-mode setup header, from offset 0x1f1 of the boot sector (boot.rst; the
#: field at 0x208 is named here with words apart, real_mode_switch).
X86_SETUP_HEADER_START = 0x1F1
X86_SETUP_HEADER: list[Field] = [
    ("setup_sects", "B"), ("root_flags", "H"), ("syssize", "I"), ("ram_size", "H"),
    ("vid_mode", "H"), ("root_dev", "H"), ("boot_flag", "H"), ("jump", "H"),
    ("header", "4s"), ("version", "H"), ("real_mode_switch", "I"), ("start_sys_seg", "H"),
    ("kernel_version", "H"), ("type_of_loader", "B"), ("loadflags", "B"),
    ("setup_move_size", "H"), ("code32_start", "I"), ("ramdisk_image", "I"),
    ("ramdisk_size", "I"), ("bootsect_kludge", "I"), ("heap_end_ptr", "H"),
    ("ext_loader_ver", "B"), ("ext_loader_type", "B"), ("cmd_line_ptr", "I"),
    ("initrd_addr_max", "I"), ("kernel_alignment", "I"), ("relocatable_kernel", "B"),
    ("min_alignment", "B"), ("xloadflags", "H"), ("cmdline_size", "I"),
    ("hardware_subarch", "I"), ("hardware_subarch_data", "Q"), ("payload_offset", "I"),
    ("payload_length", "I"), ("setup_data", "Q"), ("pref_address", "Q"),
    ("init_size", "I"), ("handover_offset", "I"), ("kernel_info_offset", "I"),
]
X86_BOOT_FLAG = 0xAA55
X86_HDRS = b"HdrS"
X86_PROTOCOL_2_15 = 0x020F
X86_LOADED_HIGH = 0x01
X86_XLF_KERNEL_64 = 0x01
X86_SECTOR = 512
X86_SETUP_SECTS = 4
X86_KERNEL_64_ENTRY = 0x200  # the 64-bit entry is 0x200 bytes into the payload
X86_JMP_SHORT = 0xEB

# ------------------------------------------------------------------ arm64 Image

ARM64_HEADER: list[Field] = [
    ("code0", "I"), ("code1", "I"), ("text_offset", "Q"), ("image_size", "Q"),
    ("flags", "Q"), ("res2", "Q"), ("res3", "Q"), ("res4", "Q"), ("magic", "4s"),
    ("res5", "I"),
]
ARM64_MAGIC = b"ARM\x64"
ARM64_FLAG_PAGE_4K = 1 << 1
ARM64_FLAG_PLACE_ANYWHERE = 1 << 3

# ------------------------------------------------------------------ riscv Image

RISCV_HEADER: list[Field] = [
    ("code0", "I"), ("code1", "I"), ("text_offset", "Q"), ("image_size", "Q"),
    ("flags", "Q"), ("version", "I"), ("res1", "I"), ("res2", "Q"), ("magic", "8s"),
    ("magic2", "4s"), ("res3", "I"),
]
RISCV_MAGIC = b"RISCV\0\0\0"
RISCV_MAGIC2 = b"RSC\x05"
RISCV_HEADER_VERSION_0_2 = 0x0000_0002
RISCV_TEXT_OFFSET = 0x20_0000

PAGE = 0x1000


def layout(fields: list[Field]) -> tuple[str, dict[str, int]]:
    """The little-endian ``struct`` format of ``fields`` and each field's offset."""
    offsets: dict[str, int] = {}
    fmt = "<"
    for name, code in fields:
        offsets[name] = struct.calcsize(fmt)
        fmt += code
    return fmt, offsets


def pack_header(fields: list[Field], values: dict[str, Any]) -> bytes:
    """Pack ``values`` (missing fields are zero) in the layout of ``fields``."""
    unknown = set(values) - {name for name, _ in fields}
    if unknown:
        raise TypeError(f"unknown header fields: {', '.join(sorted(unknown))}")
    fmt, _ = layout(fields)
    zero = {"s": b""}
    return struct.pack(fmt, *(values.get(name, zero.get(code[-1], 0)) for name, code in fields))


def unpack_header(fields: list[Field], data: bytes, offset: int = 0) -> dict[str, Any]:
    """Read a header laid out as ``fields`` from ``data`` at ``offset``."""
    fmt, _ = layout(fields)
    return dict(zip((name for name, _ in fields), struct.unpack_from(fmt, data, offset), strict=True))


HEADER_FIELDS = {"x86": X86_SETUP_HEADER, "arm64": ARM64_HEADER, "riscv": RISCV_HEADER}


def x86_bzimage(payload: bytes | None = None, **fields: Any) -> bytes:
    """A bzImage: boot sector + setup sectors with a valid header, then ``payload``.

    The payload (the "protected-mode kernel") is loaded at ``code32_start``; it gets
    the halt code at its 32-bit entry (offset 0) and its 64-bit entry (0x200).
    ``fields`` override header fields.
    """
    if payload is None:
        halt = poweroff_code("x86")
        payload = halt.ljust(X86_KERNEL_64_ENTRY, b"\0") + halt
    setup_sects = fields.get("setup_sects", X86_SETUP_SECTS)
    setup_size = (setup_sects + 1) * X86_SECTOR
    header_fmt, offsets = layout(X86_SETUP_HEADER)
    header_end = X86_SETUP_HEADER_START + struct.calcsize(header_fmt)
    jump_field_end = X86_SETUP_HEADER_START + offsets["header"]
    values: dict[str, Any] = {
        "setup_sects": setup_sects,
        "syssize": align_up(len(payload), 16) // 16,
        "boot_flag": X86_BOOT_FLAG,
        # A short jump over the header to the real-mode entry's halt code.
        "jump": X86_JMP_SHORT | (header_end - jump_field_end) << 8,
        "header": X86_HDRS,
        "version": X86_PROTOCOL_2_15,
        "loadflags": X86_LOADED_HIGH,
        "code32_start": 0x10_0000,
        "initrd_addr_max": 0x7FFF_FFFF,
        "kernel_alignment": 0x20_0000,
        "xloadflags": X86_XLF_KERNEL_64,
        "cmdline_size": 2047,
        "pref_address": 0x100_0000,
        "init_size": align_up(len(payload), PAGE),
    }
    values.update(fields)
    setup = bytearray(setup_size)
    setup[X86_SETUP_HEADER_START:header_end] = pack_header(X86_SETUP_HEADER, values)
    real_mode_halt = poweroff_code("x86")
    setup[header_end : header_end + len(real_mode_halt)] = real_mode_halt
    return bytes(setup) + payload


def arm64_image(code: bytes | None = None, **fields: Any) -> bytes:
    """An arm64 ``Image``: the 64-byte header, then ``code`` (branched to by code0)."""
    code = poweroff_code("arm64") if code is None else code
    fmt, offsets = layout(ARM64_HEADER)
    header_size = struct.calcsize(fmt)
    file_size = header_size + len(code)
    values: dict[str, Any] = {
        "code0": a64_branch(header_size - offsets["code0"]),
        "text_offset": 0,
        "image_size": align_up(file_size, PAGE),
        "flags": ARM64_FLAG_PAGE_4K | ARM64_FLAG_PLACE_ANYWHERE,
        "magic": ARM64_MAGIC,
    }
    values.update(fields)
    return pack_header(ARM64_HEADER, values) + code


def riscv_image(code: bytes | None = None, **fields: Any) -> bytes:
    """A riscv ``Image``: the 64-byte header, then ``code`` (jumped to by code0)."""
    code = poweroff_code("riscv") if code is None else code
    fmt, offsets = layout(RISCV_HEADER)
    header_size = struct.calcsize(fmt)
    values: dict[str, Any] = {
        "code0": rv_jal(0, header_size - offsets["code0"]),
        "text_offset": RISCV_TEXT_OFFSET,
        "image_size": align_up(header_size + len(code), PAGE),
        "version": RISCV_HEADER_VERSION_0_2,
        "magic": RISCV_MAGIC,
        "magic2": RISCV_MAGIC2,
    }
    values.update(fields)
    return pack_header(RISCV_HEADER, values) + code


_BUILDERS = {"x86": x86_bzimage, "arm64": arm64_image, "riscv": riscv_image}


def minimal_kernel(arch: str, code: bytes | None = None, **fields: Any) -> bytes:
    """A header-valid kernel image for ``arch`` whose code stops the VM.

    :param arch: "x86" (bzImage), "arm64" or "riscv" (``Image``).
    :param code: the code after the header (default: :func:`poweroff_code`); for x86
        the protected-mode payload.
    :param fields: header fields to override, by their documented names.
    """
    try:
        builder = _BUILDERS[arch]
    except KeyError:
        raise ValueError(
            f"no minimal kernel for architecture {arch!r} (have: {', '.join(_BUILDERS)})"
        ) from None
    return builder(code, **fields)
