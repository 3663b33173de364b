"""Unpack .deb files into a plain directory tree (``dpkg -x``) and tidy the tree."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from vmm.core.nested.apt import require_tool
from vmm.core.nested.errors import PackageError

#: Top-level directories that merged-/usr systems turn into links into /usr.
MERGED_USR_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


def unpack_debs(debs: list[Path], root: Path) -> None:
    """Extract every .deb's files into ``root`` without running any script."""
    dpkg_deb = require_tool("dpkg-deb", "dpkg")
    root.mkdir(parents=True, exist_ok=True)
    for deb in debs:
        result = subprocess.run(
            [dpkg_deb, "-x", str(deb), str(root)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            stdin=subprocess.DEVNULL,
        )
        if result.returncode != 0:
            reason = (result.stderr.strip().splitlines() or ["failed"])[-1]
            raise PackageError(f"cannot unpack {deb.name}: {reason}")


def _merge_into(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        destination = target / entry.name
        if entry.is_dir() and not entry.is_symlink() and destination.is_dir():
            _merge_into(entry, destination)
        else:
            if destination.is_symlink() or destination.exists():
                if destination.is_dir() and not destination.is_symlink():
                    shutil.rmtree(destination)
                else:
                    destination.unlink()
            entry.rename(destination)
    source.rmdir()


def merge_usr(root: Path) -> None:
    """Move /bin, /lib... into /usr and leave links behind, as merged-/usr does.

    Packages of older suites ship files in both places; after this every program
    finds its interpreter and libraries whatever path it was linked with.
    """
    for name in MERGED_USR_DIRS:
        top = root / name
        if top.is_dir() and not top.is_symlink():
            _merge_into(top, root / "usr" / name)
        if (root / "usr" / name).is_dir() and not top.is_symlink():
            top.symlink_to(Path("usr") / name)


def relativize_symlinks(root: Path) -> None:
    """Point absolute links inside ``root`` at their files inside ``root``."""
    for directory, subdirs, files in os.walk(root):
        for name in subdirs + files:
            link = Path(directory) / name
            if link.is_symlink():
                target = os.readlink(link)
                if target.startswith("/"):
                    link.unlink()
                    link.symlink_to(os.path.relpath(root / target.lstrip("/"), link.parent))
