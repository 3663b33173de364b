"""Which guest ranges a realm gives RIPAS RAM and populates, per image (kvmtool patch 18).

Pure functions of the images' placement, so the rules are testable on their own:

- kernel (or firmware): INIT_IPA from the page holding its start over the Image
  header's ``image_size`` (BSS included; for firmware, the file's pages), then
  POPULATE over the file's pages;
- initrd: its pages, starting no lower than the page after the kernel file (a page
  the kernel already populated can't be populated again);
- device tree: the whole 64 KiB window (FDT_MAX_SIZE), starting no lower than the
  page after the initrd.
"""

from __future__ import annotations

from dataclasses import dataclass

from vmm.core.images import LoadedImage

from .uapi import FDT_MAX_SIZE, align_down, align_up


@dataclass(frozen=True)
class RealmRanges:
    """The INIT_IPA_REALM and POPULATE_REALM arguments for one image."""

    init_base: int
    init_size: int
    populate_base: int
    populate_size: int


def kernel_ranges(kernel: LoadedImage) -> RealmRanges:
    """A kernel Image: RIPAS over ``image_size``, contents over the file's pages.

    Firmware (or anything that is not a kernel Image) has no header: RIPAS covers
    the same pages as the contents.
    """
    start = align_down(kernel.guest_start)
    end = align_up(kernel.guest_start + kernel.file_size)
    ripas_size = kernel.mem_size if kernel.kind == "kernel" else end - start
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
