"""The RIPAS and POPULATE ranges of each image follow kvmtool's patch 18, image_size
read from the Image header."""

from __future__ import annotations

from vmm.core.images import LoadedImage
from vmm.core.testing.images import arm64_image
from vmm.plugins.arm64_realm.ranges import (
    RealmRanges,
    dtb_ranges,
    header_image_size,
    initrd_ranges,
    kernel_ranges,
)

KERNEL = LoadedImage("kernel", 0x8000_0000, 0x3040, 0x10000, entry=0x8000_0000)


def test_kernel_ripas_covers_image_size_and_contents_the_file_pages() -> None:
    ranges = kernel_ranges(KERNEL, 0x10000)
    assert ranges == RealmRanges(0x8000_0000, 0x10000, 0x8000_0000, 0x4000)


def test_image_size_comes_from_the_header_and_is_0_for_a_legacy_image() -> None:
    assert header_image_size(arm64_image(code=b"\x11" * 0x3000, image_size=0x10000)[:64]) == 0x10000
    assert header_image_size(arm64_image(code=b"\x11" * 0x3000, image_size=0)[:64]) == 0
    assert header_image_size(b"\x11" * 64) is None
    legacy = kernel_ranges(KERNEL, 0)  # kvmtool: INIT_IPA(start, 0), nothing
    assert (legacy.init_size, legacy.populate_size) == (0, 0x4000)


def test_firmware_ripas_covers_its_own_pages() -> None:
    firmware = LoadedImage("firmware", 0x8000_0000, 0x1801, 0x1801, entry=0x8000_0000)
    assert kernel_ranges(firmware, None) == RealmRanges(0x8000_0000, 0x2000, 0x8000_0000, 0x2000)


def test_initrd_pages_start_after_the_kernel_file() -> None:
    initrd = LoadedImage("initrd", 0x8fdf_e8fc, 0x1704, 0x1704)
    assert initrd_ranges(initrd, KERNEL) == RealmRanges(0x8fdf_e000, 0x2000, 0x8fdf_e000, 0x2000)
    touching = LoadedImage("initrd", 0x8000_3100, 0x2000, 0x2000)
    assert initrd_ranges(touching, KERNEL).populate_base == 0x8000_4000
    inside = LoadedImage("initrd", 0x8000_3044, 0x10, 0x10)
    assert initrd_ranges(inside, KERNEL) is None


def test_dtb_window_is_64k_above_the_initrd() -> None:
    dtb = LoadedImage("dtb", 0x8fe0_0000, 0x800, 0x10000)
    assert dtb_ranges(dtb, None) == RealmRanges(0x8fe0_0000, 0x10000, 0x8fe0_0000, 0x10000)
    initrd = LoadedImage("initrd", 0x8fdf_f000, 0x1100, 0x1100)
    assert dtb_ranges(dtb, initrd) == RealmRanges(0x8fe0_1000, 0xF000, 0x8fe0_1000, 0xF000)
