"""Placing images in riscv guest RAM: the kernel ``Image``, firmware, initrd, DTB.

A riscv ``Image`` (Documentation/arch/riscv/boot-image-header.rst) starts with a
64-byte header: ``text_offset`` is where it wants to sit from the start of RAM and
``image_size`` how much memory it occupies once running (BSS included). RV64 kernels
must start on a 2 MiB boundary. The device tree takes the last 64 KiB of RAM and the
initrd goes right below it, as high as possible, clear of the kernel.
"""

from __future__ import annotations

from vmm.core.errors import ImageError
from vmm.core.images import LoadedImage
from vmm.core.layout import align_down, align_up
from vmm.core.vm import Vm

from .uapi import ffi

MIB = 1 << 20
#: RV64 kernels map themselves with 2 MiB pages: their start must be aligned so.
KERNEL_ALIGN = 2 * MIB
#: The device tree's window at the top of RAM.
FDT_MAX_SIZE = 64 * 1024
INITRD_ALIGN = 4096

HEADER = "struct riscv_image_header"
HEADER_SIZE = ffi.sizeof(HEADER)
MAGIC2 = b"RSC\x05"  # at magic2, since header version 0.2
MAGIC = b"RISCV\0\0\0"  # at magic, deprecated but still written
_GZIP = b"\x1f\x8b"
_ELF = b"\x7fELF"


#: header field name -> (offset, size), from the cdef.
_FIELDS = {name: (f.offset, ffi.sizeof(f.type)) for name, f in ffi.typeof(HEADER).fields}


def _field(data: bytes, name: str) -> bytes:
    offset, size = _FIELDS[name]
    return data[offset : offset + size]


def _u(data: bytes, name: str) -> int:
    return int.from_bytes(_field(data, name), "little")


def _mib(size: int) -> str:
    return f"{size / MIB:.1f} MiB"


def parse_image_header(data: bytes, path: str) -> tuple[int, int]:
    """Check a riscv Image's header; return its ``(text_offset, image_size)``."""
    if data.startswith(_GZIP):
        raise ImageError(f"kernel {path!r} is gzip-compressed: decompress it (gunzip) first")
    if data.startswith(_ELF):
        raise ImageError(
            f"kernel {path!r} is an ELF file (vmlinux): give the riscv Image "
            "(arch/riscv/boot/Image) instead"
        )
    if len(data) < HEADER_SIZE:
        raise ImageError(
            f"kernel {path!r} is {len(data)} bytes, too short for a riscv Image header "
            f"({HEADER_SIZE} bytes)"
        )
    if _field(data, "magic2") != MAGIC2 and _field(data, "magic") != MAGIC:
        raise ImageError(
            f"kernel {path!r} is not a riscv Image (no \"RSC\\x05\" magic at offset "
            f"{_FIELDS['magic2'][0]:#x}); give an uncompressed riscv64 Image"
        )
    return _u(data, "text_offset"), _u(data, "image_size")


def fdt_address(vm: Vm) -> int:
    """Where the device tree goes: the last :data:`FDT_MAX_SIZE` bytes of RAM."""
    assert vm.layout is not None
    return vm.layout.ram_end - FDT_MAX_SIZE


def _check_fits(vm: Vm, what: str, path: str, start: int, size: int) -> None:
    limit = fdt_address(vm)
    if start + size > limit:
        assert vm.layout is not None
        needed = align_up(start + size + FDT_MAX_SIZE - vm.layout.ram_start, MIB) // MIB
        raise ImageError(
            f"{what} {path!r} ({_mib(size)} at {start:#x}) does not fit in "
            f"{vm.config.mem_mib} MiB of RAM; give -m {needed} or more"
        )


def load_kernel(vm: Vm, data: bytes, path: str) -> LoadedImage:
    """Load a riscv ``Image`` at RAM start + text_offset (2 MiB aligned)."""
    assert vm.layout is not None
    text_offset, image_size = parse_image_header(data, path)
    start = align_up(vm.layout.ram_start + text_offset, KERNEL_ALIGN)
    mem_size = max(image_size, len(data))
    _check_fits(vm, "kernel", path, start, mem_size)
    vm.memory.write(start, data)
    return LoadedImage("kernel", start, len(data), mem_size, entry=start, path=path,
                       format="riscv Image")


def load_firmware(vm: Vm, data: bytes, path: str) -> LoadedImage:
    """Load a flat firmware (an S-mode boot loader) at the start of RAM."""
    assert vm.layout is not None
    start = vm.layout.ram_start
    if not data:
        raise ImageError(f"firmware {path!r} is empty")
    _check_fits(vm, "firmware", path, start, len(data))
    vm.memory.write(start, data)
    return LoadedImage("firmware", start, len(data), len(data), entry=start, path=path,
                       format="flat binary")


def load_initrd(vm: Vm, data: bytes, path: str) -> LoadedImage:
    """Load the initrd as high as it goes below the device tree, above the kernel."""
    assert vm.kernel is not None and vm.layout is not None
    end = fdt_address(vm)
    start = align_down(end - len(data), INITRD_ALIGN)
    kernel_end = vm.kernel.guest_start + vm.kernel.mem_size
    if start < kernel_end:
        room = max(end - align_up(kernel_end, INITRD_ALIGN), 0)
        needed = align_up(vm.config.mem_mib * MIB + len(data) - room, MIB) // MIB
        raise ImageError(
            f"initrd {path!r} ({_mib(len(data))}) does not fit in RAM above the kernel "
            f"({_mib(room)} free); give -m {needed} or more"
        )
    vm.memory.write(start, data)
    return LoadedImage("initrd", start, len(data), len(data), path=path, format="initrd")
