"""Loading x86 kernels and initrds: bzImage (64-bit boot protocol), ELF64 vmlinux
(PVH entry when its Xen note has one, else the 64-bit protocol at the ELF entry), and
with ``--flat`` (or for the built-in guest) a flat real-mode binary at 1000:0000.

kvmtool loads any file it does not recognise as a flat binary; a truncated or
foreign kernel then runs as garbage real-mode code and hangs. Here an unrecognised
file is a one-line error naming the formats recognised, unless the user says
``--flat``."""

from __future__ import annotations

from vmm.core.errors import ImageError
from vmm.core.images import LoadedImage
from vmm.core.memory import GuestMemoryError
from vmm.core.vm import Vm

from . import layout as m
from .bzimage import SETUP_HEADER_OFFSET, STARTUP_64_OFFSET, is_bzimage, parse_bzimage
from .elf import is_elf, parse_elf
from .guest import builtin_guest_path
from .options import x86_options
from .state import LINUX_64, PVH, REAL_MODE, BootInfo, x86_state

PAGE = 4096
#: initrd_addr_max of boot protocols before 2.03.
OLD_INITRD_ADDR_MAX = 0x37FFFFFF


def _write(vm: Vm, gpa: int, data: bytes | memoryview, what: str, path: str) -> None:
    try:
        vm.memory.write(gpa, data)
    except GuestMemoryError:
        raise ImageError(
            f"{what} {path!r} ({len(data)} bytes at {gpa:#x}) does not fit in the guest's "
            f"{vm.config.mem_mib} MiB of RAM; give more memory with -m"
        ) from None


def load_flat(vm: Vm, data: bytes, path: str) -> LoadedImage:
    """A flat binary at 1000:0000, started in real mode."""
    start = m.REAL_MODE_SEGMENT << 4
    if start + len(data) > m.EBDA_ADDR:
        raise ImageError(f"flat binary {path!r} is {len(data)} bytes; real mode can load at most "
                         f"{m.EBDA_ADDR - start} at 1000:0000")
    _write(vm, start, data, "flat binary", path)
    x86_state(vm).boot = BootInfo(REAL_MODE, entry=0, kernel_end=start + len(data))
    return LoadedImage("kernel", start, len(data), len(data), start, path, "flat")


def load_elf(vm: Vm, data: bytes, path: str) -> LoadedImage:
    """Every PT_LOAD segment at its physical address; BSS is fresh (zero) RAM."""
    image = parse_elf(data, path)
    view = memoryview(data)
    for segment in image.segments:
        if not vm.memory.contains(segment.paddr, segment.mem_size):
            raise ImageError(
                f"kernel {path!r} needs RAM at {segment.paddr:#x}-{segment.paddr + segment.mem_size:#x}, "
                f"outside the guest's {vm.config.mem_mib} MiB; give more memory with -m"
            )
        _write(vm, segment.paddr, view[segment.offset : segment.offset + segment.file_size],
               "kernel", path)
        vm.memory.view(segment.paddr + segment.file_size,
                       segment.mem_size - segment.file_size)[:] = bytes(
                           segment.mem_size - segment.file_size)
    if image.pvh_entry is not None:
        boot = BootInfo(PVH, image.pvh_entry, m.ZERO_PAGE_ADDR, image.end)
        fmt = "elf-pvh"
    else:
        boot = BootInfo(LINUX_64, image.entry, m.ZERO_PAGE_ADDR, image.end)
        fmt = "elf"
    x86_state(vm).boot = boot
    size = image.end - image.start
    return LoadedImage("kernel", image.start, len(data), size, boot.entry, path, fmt)


def load_bzimage(vm: Vm, data: bytes, path: str) -> LoadedImage:
    """The protected-mode kernel at 1 MiB, entered at startup_64."""
    image = parse_bzimage(data, path)
    start = m.HIGH_MEMORY
    _write(vm, start, image.kernel, "kernel", path)
    mem_size = max(len(image.kernel), image.init_size)
    if not vm.memory.contains(start, mem_size):
        raise ImageError(f"kernel {path!r} needs {mem_size >> 20} MiB above 1 MiB to decompress; "
                         "give more memory with -m")
    entry = start + STARTUP_64_OFFSET
    x86_state(vm).boot = BootInfo(
        LINUX_64, entry, m.ZERO_PAGE_ADDR, start + mem_size, setup_header=image.header,
        initrd_addr_max=image.initrd_addr_max or OLD_INITRD_ADDR_MAX,
        cmdline_size=image.cmdline_size)
    return LoadedImage("kernel", start, len(image.kernel), mem_size, entry, path, "bzimage")


def load_kernel(vm: Vm, data: bytes, path: str) -> LoadedImage:
    """A flat binary when asked (``--flat``, the built-in guest), else a recognised
    bzImage or ELF64 kernel; anything else is a one-line ImageError."""
    if x86_options(vm.config).flat or path == str(builtin_guest_path()):
        if not data:
            raise ImageError(f"flat binary {path!r} is empty")
        return load_flat(vm, data, path)
    if is_bzimage(data):
        return load_bzimage(vm, data, path)
    if is_elf(data):
        return load_elf(vm, data, path)
    what = "is empty" if not data else "is not a kernel x86 boots"
    raise ImageError(
        f"kernel {path!r} {what}: vmm recognises a bzImage (boot flag and 'HdrS' in "
        f"the setup header at {SETUP_HEADER_OFFSET:#x}) and an ELF64 vmlinux; add --flat "
        "to run a flat real-mode binary at 1000:0000")


def initrd_limit(vm: Vm) -> int:
    """The highest address (exclusive) the initrd may reach for this kernel."""
    boot = x86_state(vm).boot
    assert boot is not None and vm.layout is not None
    limit = vm.layout.banks[0].end
    if boot.initrd_addr_max:
        limit = min(limit, boot.initrd_addr_max + 1)
    return limit


def load_initrd(vm: Vm, data: bytes, path: str) -> LoadedImage:
    """The initrd as high as the protocol allows in low RAM, above the kernel."""
    boot = x86_state(vm).boot
    assert boot is not None
    if boot.protocol == REAL_MODE:
        raise ImageError(f"initrd {path!r} can't be given to a flat real-mode binary")
    limit = initrd_limit(vm)
    start = (limit - len(data)) & ~(PAGE - 1)
    lowest = (boot.kernel_end + PAGE - 1) & ~(PAGE - 1)
    if start < lowest or not vm.memory.contains(start, len(data)):
        room = max(limit - lowest, 0)
        raise ImageError(
            f"initrd {path!r} ({len(data) >> 20} MiB) does not fit between the kernel and "
            f"{limit:#x} ({room >> 20} MiB free); give more memory with -m"
        )
    _write(vm, start, data, "initrd", path)
    return LoadedImage("initrd", start, len(data), len(data), None, path, "initrd")
