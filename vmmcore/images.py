"""Reading images from disk and describing where they were loaded."""

from __future__ import annotations

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


def read_image(path: str, what: str) -> bytes:
    """Read a whole image file, turning OS errors into one-line ImageErrors."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise ImageError(f"{what} {path!r} does not exist") from None
    except IsADirectoryError:
        raise ImageError(f"{what} {path!r} is a directory, not a file") from None
    except PermissionError:
        raise ImageError(f"{what} {path!r} is not readable (permission denied)") from None
    except OSError as error:
        raise ImageError(f"cannot read {what} {path!r}: {error.strerror}") from None
