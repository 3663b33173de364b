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

import vmm

#: Bump when the layout of built images changes, to rebuild them everywhere.
BUILD_FORMAT = "1"


def cache_root() -> Path:
    """The cache directory: ``$XDG_CACHE_HOME/vmm/nested`` (``~/.cache`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vmm" / "nested"


def package_dir() -> Path:
    """The directory of the ``vmm`` package as Python imports it (in a checkout its
    parts are symbolic links to ``vmmcore/``, ``plugins/`` and ``hookspecs.py``)."""
    return Path(vmm.__file__).parent


def project_root() -> Path:
    """The directory holding the ``vmm`` package (in a checkout, ``pyproject.toml``)."""
    return Path(vmm.__file__).resolve().parent.parent


def project_source_files() -> list[Path]:
    """Every file of this vmm's package that goes into the emulated host (sorted),
    named under :func:`package_dir` (links followed, not resolved)."""
    files: list[Path] = []
    for directory, subdirectories, names in os.walk(package_dir(), followlinks=True):
        subdirectories[:] = sorted(d for d in subdirectories if d != "__pycache__")
        files.extend(Path(directory) / name for name in names if not name.endswith(".pyc"))
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


def _use_lock(path: Path) -> Path:
    """The lock file that marks ``path`` as in use: ``.<name>.in-use`` beside it."""
    return path.parent / f".{path.name}.in-use"


@contextlib.contextmanager
def in_use(path: Path) -> Iterator[None]:
    """Hold a shared lock saying that a run uses ``path``, so pruning spares it
    (a firmware-booted host reads its tree for the whole run)."""
    with open(_use_lock(path), "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def prune_siblings(keep: Path, pattern: str) -> None:
    """Delete older builds matching ``pattern`` next to ``keep``, except those a
    run holds :func:`in_use`."""
    for other in keep.parent.glob(pattern):
        if other == keep:
            continue
        lock_path = _use_lock(other)
        with open(lock_path, "a") as lock_file:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            if other.is_dir():
                shutil.rmtree(other, ignore_errors=True)
            else:
                other.unlink(missing_ok=True)
            lock_path.unlink(missing_ok=True)
