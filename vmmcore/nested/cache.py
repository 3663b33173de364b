"""Where ``vmm nested`` keeps downloads and built images, and how it keys them."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import vmmcore

#: Bump when the layout of built images changes, to rebuild them everywhere.
BUILD_FORMAT = "1"


def cache_root() -> Path:
    """The cache directory: ``$XDG_CACHE_HOME/vmm/nested`` (``~/.cache`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vmm" / "nested"


def project_root() -> Path:
    """The directory holding ``vmmcore`` (and, in a checkout, ``plugins``)."""
    return Path(vmmcore.__file__).resolve().parent.parent


def project_source_files() -> list[Path]:
    """Every file of this vmm that goes into the emulated host (sorted)."""
    import hookspecs

    roots = [project_root() / "vmmcore", project_root() / "plugins"]
    files = [Path(hookspecs.__file__).resolve()]
    for root in roots:
        if root.is_dir():
            files.extend(
                path for path in root.rglob("*")
                if path.is_file() and "__pycache__" not in path.parts
                and path.suffix != ".pyc"
            )
    return sorted(files)


def digest_files(paths: Iterable[Path], base: Path | None = None) -> str:
    """Hash the names and contents of ``paths`` (names relative to ``base``)."""
    digest = hashlib.sha256()
    for path in paths:
        try:
            name = str(path.relative_to(base)) if base else path.name
        except ValueError:
            name = str(path)
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def digest_text(*parts: str) -> str:
    """A short stable hash of some strings."""
    digest = hashlib.sha256(BUILD_FORMAT.encode())
    for part in parts:
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``directory`` so parallel runs build things once."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


@contextlib.contextmanager
def building(final: Path) -> Iterator[Path]:
    """Give a temporary path next to ``final``; move it into place only on success.

    Works for a file or a directory; an interrupted build leaves nothing behind.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    work = scratch / final.name
    try:
        yield work
        if final.is_dir():
            shutil.rmtree(final)
        os.replace(work, final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def prune_siblings(keep: Path, pattern: str) -> None:
    """Delete older builds matching ``pattern`` next to ``keep``."""
    for other in keep.parent.glob(pattern):
        if other != keep:
            if other.is_dir():
                shutil.rmtree(other, ignore_errors=True)
            else:
                other.unlink(missing_ok=True)
