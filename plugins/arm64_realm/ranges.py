"""Which guest ranges a realm gives RIPAS RAM and populates, per image.

Pure functions of the images' placement (kvmtool patch 18; kvmtool ``cca/v2``'s
``kvm_arm_realm_populate_ram`` regions are the same pages), so the rules are testable
on their own:

- kernel (or firmware): the file's pages are populated; RIPAS RAM also covers the
  rest of the Image header's ``image_size`` (BSS), read from the image in guest
  memory as kvmtool reads it: a legacy Image (``image_size`` 0) or a file without
  the header gets no more than its file's pages;
- initrd: its pages, starting no lower than the page after the kernel file (a page
  already populated can't be populated again);
- device tree: the whole 64 KiB window (FDT_MAX_SIZE), starting no lower than the
  page after the initrd.

RFC-v1 issues INIT_IPA over ``init`` then POPULATE over ``populate`` for each image;
v7 POPULATEs ``populate`` (its INIT_RIPAS covers all of RAM instead).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vmm.core.images import LoadedImage

from .uapi import FDT_MAX_SIZE, align_down, align_up

if TYPE_CHECKING:  # pragma: no cover
    from vmm.core.vm import Vm

#: The arm64 Image header: ``image_size`` (u64) at 16, the magic "ARM\\x64" at 56.
_HEADER = struct.Struct("<16xQ32x4s")
IMAGE_MAGIC = b"ARM\x64"


@dataclass(frozen=True)
class RealmRanges:
    """The RIPAS and contents ranges of one image (``init_size`` may be unaligned, or
    0: RFC-v1's INIT_IPA takes it as the header gives it)."""

    init_base: int
    init_size: int
    populate_base: int
    populate_size: int


def header_image_size(header: bytes) -> int | None:
    """``image_size`` of an arm64 Image header (0 for a legacy Image); None when
    ``header`` (the image's first 64 bytes) has no arm64 magic."""
    if len(header) < _HEADER.size:
        return None
    image_size, magic = _HEADER.unpack_from(header)
    return image_size if magic == IMAGE_MAGIC else None


def kernel_ranges(kernel: LoadedImage, image_size: int | None) -> RealmRanges:
    """A kernel Image or firmware: RIPAS over ``image_size`` from its header (None:
    no header, then the file's pages), contents over the file's pages."""
    start = align_down(kernel.guest_start)
    end = align_up(kernel.guest_start + kernel.file_size)
    ripas_size = image_size if image_size is not None else end - start
    return RealmRanges(start, ripas_size, start, end - start)


def initrd_ranges(initrd: LoadedImage, kernel: LoadedImage) -> RealmRanges | None:
    """The initrd's pages above the kernel file's last page; None if none are left."""
    start = max(align_down(initrd.guest_start), align_up(kernel.guest_end))
    end = align_up(initrd.guest_end)
    if end <= start:
        return None
    return RealmRanges(start, end - start, start, end - start)


def dtb_ranges(dtb: LoadedImage, initrd: LoadedImage | None) -> RealmRanges:
    """The device tree's 64 KiB window, above the initrd's last page."""
    floor = align_up(initrd.guest_end) if initrd is not None else 0
    start = max(align_down(dtb.guest_start), floor)
    end = align_up(dtb.guest_start + FDT_MAX_SIZE)
    return RealmRanges(start, end - start, start, end - start)


def image_ranges(image: LoadedImage, header: bytes, kernel: LoadedImage | None,
                 initrd: LoadedImage | None) -> RealmRanges | None:
    """The ranges of any image, by kind; ``header`` is the image's first bytes in
    guest memory (read for a kernel or firmware only)."""
    if image.kind in ("kernel", "firmware"):
        return kernel_ranges(image, header_image_size(header))
    if image.kind == "initrd":
        assert kernel is not None
        return initrd_ranges(image, kernel)
    if image.kind == "dtb":
        return dtb_ranges(image, initrd)
    return None


def ranges_in(vm: Vm, image: LoadedImage) -> RealmRanges | None:
    """The ranges of an image just placed in ``vm``'s memory (its header read there)."""
    header = b""
    if image.kind in ("kernel", "firmware"):
        header = vm.memory.read(image.guest_start, min(_HEADER.size, image.file_size))
    return image_ranges(image, header, vm.kernel, vm.initrd)
