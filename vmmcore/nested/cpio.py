"""The kernel's initramfs format (cpio "newc"), written and read in pure Python.

Archives written one after another form a valid initramfs too: the kernel unpacks
them in order, so a large unchanging part can be cached and small parts appended.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import BinaryIO

MAGIC = b"070701"
TRAILER = "TRAILER!!!"
BLOCK = 512
#: Size of a newc header: the magic and 13 eight-digit hex fields.
HEADER_SIZE = 110


class CpioWriter:
    """Write entries of a newc archive to a binary stream."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.written = 0
        self.next_inode = 1

    def _write(self, data: bytes) -> None:
        self.stream.write(data)
        self.written += len(data)

    def _pad(self, alignment: int = 4) -> None:
        self._write(b"\0" * (-self.written % alignment))

    def _header(self, name: str, mode: int, size: int, rdev: tuple[int, int] = (0, 0)) -> None:
        encoded = name.encode() + b"\0"
        fields = (
            self.next_inode, mode, 0, 0, 1, 0, size, 0, 0, rdev[0], rdev[1],
            len(encoded), 0,
        )
        self.next_inode += 1
        self._write(MAGIC + b"".join(b"%08X" % value for value in fields))
        self._write(encoded)
        self._pad()

    def add_directory(self, name: str, mode: int = 0o755) -> None:
        """Add a directory (its parents must have been added before)."""
        self._header(name, stat.S_IFDIR | mode, 0)

    def add_bytes(self, name: str, data: bytes, mode: int = 0o644) -> None:
        """Add a regular file with the given contents."""
        self._header(name, stat.S_IFREG | mode, len(data))
        self._write(data)
        self._pad()

    def add_file(self, name: str, source: Path, mode: int | None = None) -> None:
        """Add a regular file copied from ``source`` on this machine."""
        info = source.stat()
        permissions = stat.S_IMODE(info.st_mode) if mode is None else mode
        self._header(name, stat.S_IFREG | permissions, info.st_size)
        with open(source, "rb") as data:
            shutil.copyfileobj(data, self.stream, 1 << 20)
        self.written += info.st_size
        self._pad()

    def add_symlink(self, name: str, target: str) -> None:
        """Add a symbolic link."""
        encoded = target.encode()
        self._header(name, stat.S_IFLNK | 0o777, len(encoded))
        self._write(encoded)
        self._pad()

    def add_char_device(self, name: str, major: int, minor: int, mode: int = 0o600) -> None:
        """Add a character device node (such as /dev/console)."""
        self._header(name, stat.S_IFCHR | mode, 0, (major, minor))

    def add_tree(self, root: Path, prefix: str = "") -> None:
        """Add everything under ``root`` (directories before their contents)."""
        for directory, subdirs, files in os.walk(root):
            subdirs.sort()
            relative = os.path.relpath(directory, root)
            base = prefix if relative == "." else f"{prefix}{relative}/" if prefix else f"{relative}/"
            if relative != ".":
                self.add_directory(base.rstrip("/"), stat.S_IMODE(os.lstat(directory).st_mode))
            for name in sorted(files) + [d for d in subdirs if os.path.islink(os.path.join(directory, d))]:
                path = Path(directory) / name
                if path.is_symlink():
                    self.add_symlink(base + name, os.readlink(path))
                elif path.is_file():
                    self.add_file(base + name, path)
            subdirs[:] = [d for d in subdirs if not os.path.islink(os.path.join(directory, d))]

    def close(self) -> None:
        """Write the trailer and pad the archive to a whole block."""
        self._header(TRAILER, 0, 0)
        self._pad(BLOCK)


def concatenate(parts: list[Path], destination: Path) -> None:
    """Join archives into one initramfs file."""
    with open(destination, "wb") as out:
        for part in parts:
            with open(part, "rb") as data:
                shutil.copyfileobj(data, out, 4 << 20)


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise ValueError("truncated cpio archive")
    return data


def extract(archive: Path, destination: Path, skip: tuple[str, ...] = ()) -> None:
    """Unpack directories, regular files and links of ``archive`` under ``destination``.

    Device nodes and entries under the top-level names in ``skip`` are left out;
    what is already there is overwritten, as the kernel does with later archives.
    """
    with open(archive, "rb") as stream:
        while True:
            header = _read_exactly(stream, HEADER_SIZE)
            if header[:6] != MAGIC:
                raise ValueError(f"{archive.name}: not a newc cpio archive")
            fields = [int(header[6 + 8 * i: 14 + 8 * i], 16) for i in range(13)]
            mode, size, name_size = fields[1], fields[6], fields[11]
            name = _read_exactly(stream, name_size)[:-1].decode()
            stream.read(-(HEADER_SIZE + name_size) % 4)
            if name == TRAILER:
                return
            target = destination / name
            kept = name.split("/", 1)[0] not in skip
            if stat.S_ISREG(mode) and kept:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.unlink(missing_ok=True)
                with open(target, "wb") as out:
                    remaining = size
                    while remaining:
                        chunk = _read_exactly(stream, min(remaining, 1 << 20))
                        out.write(chunk)
                        remaining -= len(chunk)
                os.chmod(target, stat.S_IMODE(mode))
            else:
                body = _read_exactly(stream, size)
                if kept and stat.S_ISDIR(mode):
                    target.mkdir(parents=True, exist_ok=True)
                    os.chmod(target, stat.S_IMODE(mode))
                elif kept and stat.S_ISLNK(mode):
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.unlink(missing_ok=True)
                    target.symlink_to(body.decode())
            stream.read(-size % 4)
