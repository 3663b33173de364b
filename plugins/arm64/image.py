"""Loading arm64 images: the kernel ``Image``, the initrd, firmware; placing the DTB.

The ``Image`` header (Documentation/arch/arm64/booting.rst), little-endian::

    0   code0, code1 (u32 each)     8   text_offset (u64)   16  image_size (u64)
    24  flags (u64)                 32  reserved (3 x u64)  56  magic "ARM\\x64"

A file without the header is a flat binary (kvm-unit-tests' ``.flat`` tests): loaded
as kvmtool loads one, at RAM start + 0x80000 (the text_offset kernels before 3.17
assumed), entered at its first byte.

Placement follows kvmtool: the kernel at RAM start + text_offset, the device tree
2 MiB-aligned below min(RAM, 256 MiB), the initrd just below the device tree; with
``--firmware``, the firmware at the start of RAM and the device tree after it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from vmm.core.errors import ImageError
from vmm.core.images import LoadedImage

from . import layout as mm

IMAGE_HEADER = struct.Struct("<IIQQQQQQ4sI")
IMAGE_MAGIC = b"ARM\x64"
MAGIC_OFFSET = 56
#: Flags bit 0: the kernel is big-endian.
IMAGE_FLAG_BE = 1 << 0
#: text_offset to assume when image_size is 0 (kernels before 3.17), and where a
#: flat binary without the header goes.
LEGACY_TEXT_OFFSET = 0x80000
INITRD_ALIGN = 4


@dataclass(frozen=True)
class ImageHeader:
    """What the loader needs from an arm64 Image header (or its absence)."""

    text_offset: int
    image_size: int
    flags: int
    #: False for a flat binary without the header (a kvm-unit-tests ``.flat``).
    has_header: bool = True


def parse_image_header(data: bytes, path: str) -> ImageHeader:
    """Decode the header of an arm64 ``Image``.

    A file without the header (too short for one, or no magic at offset 56) is a
    flat binary, placed as kvmtool places one: at RAM start + 0x80000, entered at
    its first byte, with x0 = the device tree. An empty file or a big-endian
    Image is an ImageError.
    """
    if not data:
        raise ImageError(f"kernel {path!r} is empty")
    if len(data) < IMAGE_HEADER.size or data[MAGIC_OFFSET:MAGIC_OFFSET + 4] != IMAGE_MAGIC:
        return ImageHeader(LEGACY_TEXT_OFFSET, len(data), 0, has_header=False)
    _, _, text_offset, image_size, flags, _, _, _, _, _ = IMAGE_HEADER.unpack_from(data)
    if flags & IMAGE_FLAG_BE:
        raise ImageError(f"kernel {path!r} is a big-endian Image; vmm boots little-endian kernels")
    if image_size == 0:
        text_offset = LEGACY_TEXT_OFFSET
    return ImageHeader(text_offset, max(image_size, len(data)), flags)


def _mib(size: int) -> int:
    return (size + (1 << 20) - 1) >> 20


def place_kernel(data: bytes, path: str, ram_start: int, ram_size: int) -> tuple[LoadedImage, int]:
    """Where the kernel and the device tree go; returns (kernel image, DTB address)."""
    header = parse_image_header(data, path)
    start = ram_start + header.text_offset
    end = start + header.image_size
    dtb = mm.dtb_address(ram_start, ram_size)
    if dtb < end or dtb + mm.DTB_WINDOW > ram_start + ram_size:
        needed = end - ram_start + mm.DTB_WINDOW + 2 * mm.DTB_ALIGN
        raise ImageError(
            f"kernel {path!r} ({_mib(header.image_size)} MiB with BSS) and the device tree "
            f"don't fit in {_mib(ram_size)} MiB of RAM; use -m {_mib(needed)} or more"
        )
    kind = "arm64 Image" if header.has_header else "flat binary (no arm64 Image header)"
    image = LoadedImage("kernel", start, len(data), header.image_size, entry=start,
                        path=path, format=kind)
    return image, dtb


def place_firmware(data: bytes, path: str, ram_start: int, ram_size: int) -> tuple[LoadedImage, int]:
    """Firmware at the start of RAM, the device tree 2 MiB-aligned after it."""
    dtb = mm.align_up(ram_start + len(data), mm.DTB_ALIGN)
    if dtb + mm.DTB_WINDOW > ram_start + ram_size:
        needed = dtb + mm.DTB_WINDOW - ram_start
        raise ImageError(
            f"firmware {path!r} ({_mib(len(data))} MiB) and the device tree don't fit in "
            f"{_mib(ram_size)} MiB of RAM; use -m {_mib(needed)} or more"
        )
    image = LoadedImage("firmware", ram_start, len(data), len(data), entry=ram_start,
                        path=path, format="raw binary")
    return image, dtb


def place_initrd(size: int, path: str, kernel: LoadedImage, dtb: int) -> LoadedImage:
    """The initrd just below the device tree, 4-byte aligned, above the kernel."""
    start = mm.align_down(dtb - size, INITRD_ALIGN)
    kernel_end = kernel.guest_start + kernel.mem_size
    if start < kernel_end:
        room = max(dtb - kernel_end, 0)
        raise ImageError(
            f"initrd {path!r} ({_mib(size)} MiB) doesn't fit in RAM between the kernel and "
            f"the device tree ({room >> 10} KiB free); use a larger -m"
        )
    return LoadedImage("initrd", start, size, size, path=path, format="initrd")
