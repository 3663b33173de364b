"""Small files vmm keeps per user under ``$XDG_CACHE_HOME/vmm`` (default ``~/.cache``),
trusted only when this user could have been their only writer.

The rules are those pip and Python's own caches follow: a cached file and the
directories holding it must be owned by the running user and writable by no one
else (the file no symbolic link); directories vmm creates are private (0700); a
file is written under a temporary name and renamed, so concurrent starts each see
a whole file. :mod:`vmm.core.kvm.ffiload` keeps its generated cffi modules here,
:mod:`vmm.core.startupcache` the tables start-up derives from the installed plugins.
"""

from __future__ import annotations

import os
import stat

#: Environment variable and default (under the home directory) of the cache root.
CACHE_HOME_ENV = "XDG_CACHE_HOME"
DEFAULT_CACHE_HOME = os.path.join("~", ".cache")


def cache_root() -> str:
    root = os.environ.get(CACHE_HOME_ENV, "")
    if not os.path.isabs(root):  # the XDG spec: ignore relative paths
        root = os.path.expanduser(DEFAULT_CACHE_HOME)
    return os.path.normpath(root)


def home_exists() -> bool:
    """Whether the cache root's parent exists: a missing home (``HOME=/nonexistent``
    for a system user) is not vmm's to create, so nothing is written then."""
    return os.path.isdir(os.path.dirname(cache_root()))


def only_ours(path: str, *, follow: bool) -> bool:
    """Whether ``path`` is owned by this user and writable by nobody else (and, with
    ``follow=False``, not a symbolic link)."""
    try:
        info = os.stat(path) if follow else os.lstat(path)
    except OSError:
        return False
    return (info.st_uid == os.geteuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
            and not stat.S_ISLNK(info.st_mode))


def directory_trusted(directory: str) -> bool:
    """The cache directory and its parent (which could swap it) are only ours, or
    don't exist yet (they are then created private)."""
    return all(only_ours(path, follow=True) or not os.path.lexists(path)
               for path in (directory, os.path.dirname(directory)))


def write_private(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (a scratch file of this process, then a
    rename), creating the directory private (0700) if missing."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    scratch = f"{path}.{os.getpid()}.tmp"
    descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
        os.replace(scratch, path)
    except BaseException:
        import contextlib

        with contextlib.suppress(OSError):
            os.unlink(scratch)
        raise
