"""Reading images from disk and describing where they were loaded."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from .errors import ImageError


@dataclass
class LoadedImage:
    """An image placed in guest memory.

    ``file_size`` is what was copied; ``mem_size`` what the image occupies once
    running (an arm64 Image's ``image_size`` includes BSS; the device tree's window
    is 64 KiB). ``entry`` is where the boot vCPU starts, when it applies.
    """

    kind: str
    guest_start: int
    file_size: int
    mem_size: int
    entry: int | None = None
    path: str = ""
    format: str = ""

    @property
    def guest_end(self) -> int:
        return self.guest_start + self.file_size


def size_text(size: int) -> str:
    """``size`` for a message: whole MiB from 1 MiB up, else bytes."""
    return f"{size >> 20} MiB" if size >= 1 << 20 else f"{size} bytes"


def require_regular_file(mode: int, path: str, what: str) -> None:
    """Refuse anything but a regular file (a FIFO, a device, a socket) as an image."""
    if stat.S_ISDIR(mode):
        raise ImageError(f"{what} {path!r} is a directory, not a file")
    if not stat.S_ISREG(mode):
        raise ImageError(f"{what} {path!r} is not a regular file")


def read_image(path: str, what: str, limit: int) -> bytes:
    """Read an image file that will be loaded into at most ``limit`` bytes of RAM.

    The file is opened without blocking (a FIFO can't hold vmm in open()), must be
    a regular file, and its size is compared with ``limit`` before any byte is
    read; then exactly the size checked is read. OS errors and refusals are
    one-line ImageErrors.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ImageError(f"{what} {path!r} does not exist") from None
    except PermissionError:
        raise ImageError(f"{what} {path!r} is not readable (permission denied)") from None
    except OSError as error:
        raise ImageError(f"cannot read {what} {path!r}: {error.strerror}") from None
    try:
        info = os.fstat(fd)
        require_regular_file(info.st_mode, path, what)
        if info.st_size > limit:
            raise ImageError(
                f"{what} {path!r} ({size_text(info.st_size)}) is bigger than the "
                f"{size_text(limit)} of guest RAM; give more memory with -m"
            )
        return _read_exactly(fd, info.st_size)
    except OSError as error:
        raise ImageError(f"cannot read {what} {path!r}: {error.strerror}") from None
    finally:
        os.close(fd)


def _read_exactly(fd: int, size: int) -> bytes:
    """``size`` bytes from ``fd``'s start (fewer if the file shrank meanwhile)."""
    parts = []
    offset = 0
    while offset < size:
        part = os.pread(fd, size - offset, offset)
        if not part:
            break
        parts.append(part)
        offset += len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)
