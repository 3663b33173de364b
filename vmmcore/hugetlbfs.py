"""Guest RAM from a hugetlbfs mount, as kvmtool's ``--hugetlbfs PATH`` maps it.

The directory must be a hugetlbfs mount point (or inside one); its page size is the
mount's block size. Each RAM bank is a private mapping of a file created in that
directory and unlinked at once, so nothing is left behind however the VM ends.
"""

from __future__ import annotations

import mmap
import os
import tempfile

from .errors import ConfigError, VmmError
from .kvm.cdefs import ffi

#: How /proc/self/mountinfo names the file system.
HUGETLBFS_TYPE = "hugetlbfs"
MOUNTINFO = "/proc/self/mountinfo"


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (``\\040``)."""
    for code in ("040", "011", "012", "134"):
        field = field.replace("\\" + code, chr(int(code, 8)))
    return field


def _mount_type(path: str) -> str | None:
    """The file system type of the mount holding ``path`` (the longest mount point)."""
    real = os.path.realpath(path)
    best, best_type = "", None
    try:
        with open(MOUNTINFO, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split(" ")
        try:
            separator = fields.index("-")
        except ValueError:
            continue
        point = _unescape(fields[4])
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, best_type = point, fields[separator + 1]
    return best_type


def hugetlbfs_page_size(path: str) -> int:
    """The huge page size of the hugetlbfs at ``path``; ConfigError when it isn't one."""
    if not os.path.isdir(path):
        raise ConfigError(f"--hugetlbfs {path!r} is not a directory: give a hugetlbfs mount point")
    kind = _mount_type(path)
    if kind != HUGETLBFS_TYPE:
        raise ConfigError(
            f"--hugetlbfs {path!r} is not hugetlbfs (it is {kind or 'unknown'}): mount one with "
            f"'mount -t hugetlbfs none DIR' and give DIR"
        )
    return os.statvfs(path).f_bsize


def check_ram_fits(path: str, ram_bytes: int) -> int:
    """kvmtool's check: the RAM must be a whole number of huge pages; returns the page size."""
    page = hugetlbfs_page_size(path)
    if page == 0 or page > ram_bytes or ram_bytes % page:
        raise ConfigError(
            f"can't use the hugetlbfs page size {page >> 10} KiB for {ram_bytes >> 20} MiB of "
            f"RAM: give -m as a multiple of {max(page, 1) >> 20 or 1} MiB"
        )
    return page


def map_hugetlbfs(path: str, size: int) -> tuple[mmap.mmap, int]:
    """Map ``size`` bytes of huge pages from a file in ``path`` (unlinked at once)."""
    try:
        fd, name = tempfile.mkstemp(prefix="vmm", dir=path)
    except OSError as error:
        raise VmmError(f"can't create a file in hugetlbfs {path!r}: {error.strerror}") from None
    try:
        os.unlink(name)
        os.ftruncate(fd, size)
        mapping = mmap.mmap(fd, size, mmap.MAP_PRIVATE, mmap.PROT_READ | mmap.PROT_WRITE)
    except OSError as error:
        raise VmmError(
            f"can't map {size >> 20} MiB of huge pages from {path!r}: {error.strerror} "
            "(too few free huge pages? see /proc/sys/vm/nr_hugepages)"
        ) from None
    finally:
        os.close(fd)
    address = int(ffi.cast("uintptr_t", ffi.from_buffer(mapping)))
    return mapping, address
