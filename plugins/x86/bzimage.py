"""bzImage parsing (Documentation/arch/x86/boot.rst): the real-mode setup header
and the protected-mode kernel behind the setup sectors."""

from __future__ import annotations

from typing import NamedTuple

from vmm.core.errors import ImageError

from .uapi import ffi

SETUP_HEADER_OFFSET = ffi.offsetof("struct boot_params", "hdr")
BOOT_FLAG = 0xAA55
HDRS_MAGIC = int.from_bytes(b"HdrS", "little")
#: 2.06 adds cmdline_size; the 64-bit entry point exists since 2.06-era kernels.
MIN_PROTOCOL = 0x0206
PROTOCOL_WITH_XLOADFLAGS = 0x020C
LOADED_HIGH = 1 << 0
XLF_KERNEL_64 = 1 << 0
DEFAULT_SETUP_SECTS = 4
SECTOR = 512
#: The 64-bit entry (startup_64) is this far into the protected-mode kernel.
STARTUP_64_OFFSET = 0x200
_JUMP_END = ffi.offsetof("struct setup_header", "header")  # the jump ends where "HdrS" starts


class BzImage(NamedTuple):
    """The parts of a bzImage vmm uses."""

    header: bytes  # the setup header as the image carries it
    version: int
    kernel: memoryview  # the protected-mode kernel
    init_size: int
    cmdline_size: int
    initrd_addr_max: int


def read_setup_header(data: bytes):
    """The setup header at 0x1f1 as cdata over a copy (zero-padded if the file is short)."""
    size = ffi.sizeof("struct setup_header")
    raw = bytearray(data[SETUP_HEADER_OFFSET : SETUP_HEADER_OFFSET + size]).ljust(size, b"\0")
    return ffi.from_buffer("struct setup_header *", raw)


def is_bzimage(data: bytes) -> bool:
    """A boot sector flag and the "HdrS" magic where the setup header lives."""
    if len(data) < SETUP_HEADER_OFFSET + ffi.offsetof("struct setup_header", "version"):
        return False
    hdr = read_setup_header(data)
    return hdr.boot_flag == BOOT_FLAG and hdr.header == HDRS_MAGIC


def parse_bzimage(data: bytes, path: str) -> BzImage:
    """Check the boot protocol and split setup from the protected-mode kernel."""
    size = ffi.sizeof("struct setup_header")
    hdr = read_setup_header(data)
    version = hdr.version
    if version < MIN_PROTOCOL:
        raise ImageError(
            f"kernel {path!r} uses boot protocol {version >> 8}.{version & 0xFF:02d}; vmm needs "
            f"{MIN_PROTOCOL >> 8}.{MIN_PROTOCOL & 0xFF:02d} or later (a newer kernel)"
        )
    if version >= PROTOCOL_WITH_XLOADFLAGS and not hdr.xloadflags & XLF_KERNEL_64:
        raise ImageError(f"kernel {path!r} is a 32-bit kernel; vmm boots 64-bit x86 kernels")
    if not hdr.loadflags & LOADED_HIGH:
        raise ImageError(f"kernel {path!r} is a zImage (loaded low); use a bzImage")
    setup_sects = hdr.setup_sects or DEFAULT_SETUP_SECTS
    kernel_offset = (setup_sects + 1) * SECTOR
    if kernel_offset >= len(data):
        raise ImageError(f"kernel {path!r} is truncated: nothing after its setup sectors")
    # The header's length is given by its jump instruction's displacement byte.
    header_end = min(SETUP_HEADER_OFFSET + _JUMP_END + data[SETUP_HEADER_OFFSET + _JUMP_END - 1],
                     SETUP_HEADER_OFFSET + size)
    return BzImage(
        header=bytes(data[SETUP_HEADER_OFFSET:header_end]),
        version=version,
        kernel=memoryview(data)[kernel_offset:],
        init_size=hdr.init_size,
        cmdline_size=hdr.cmdline_size,
        initrd_addr_max=hdr.initrd_addr_max,
    )
