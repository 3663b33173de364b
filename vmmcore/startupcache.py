"""Facts start-up derives from what is installed, kept between starts.

Every command line reads the ``vmm`` entry-point group and the hook tables of the
lazy plugin packages. Deriving them is slow (``importlib.metadata``'s import, every
hook module's import), reading them back is not: each fact is stored with a *stamp*
of what it was derived from (directory and file modification times), and used only
while the stamp still matches. A miss derives the fact the slow way and stores it
again, so the single source (the installed metadata, the hook implementations)
always decides.

The records live in one ``marshal`` file per Python environment under
``$XDG_CACHE_HOME/vmm/startup/`` (:mod:`vmm.core.usercache`: owned by this user,
written atomically). When it can't be read or written, every fact is derived.
"""

from __future__ import annotations

import marshal
import os
import sys
from typing import Any

from .usercache import cache_root, directory_trusted, home_exists, only_ours, write_private

#: Part of every record: bump it when what is stored or how it is derived changes.
FORMAT = 1
SUBDIR = os.path.join("vmm", "startup")
#: More records than this (many working directories, many groups) start afresh.
MAX_RECORDS = 64

#: This process's view of the file (loaded on first use).
_records: dict[str, Any] | None = None


def cache_file() -> str:
    """The file holding this Python environment's records."""
    name = sys.prefix.strip(os.sep).replace(os.sep, "_") or "root"
    version = sys.implementation.cache_tag
    return os.path.join(cache_root(), SUBDIR, f"{name}-{version}.marshal")


def _load() -> dict[str, Any]:
    global _records
    if _records is None:
        _records = {}
        path = cache_file()
        if directory_trusted(os.path.dirname(path)) and only_ours(path, follow=False):
            try:
                with open(path, "rb") as stream:
                    loaded = marshal.loads(stream.read())
            except (OSError, ValueError, EOFError, TypeError):
                loaded = None
            if isinstance(loaded, dict) and loaded.get("format") == FORMAT:
                _records = loaded
    return _records


def lookup(name: str, stamp: Any) -> Any | None:
    """The value stored as ``name`` if it was stored with ``stamp``, else None."""
    entry = _load().get(name)
    if isinstance(entry, tuple) and len(entry) == 2 and entry[0] == stamp:
        return entry[1]
    return None


def stored(name: str) -> tuple[Any, Any] | None:
    """The ``(stamp, value)`` stored as ``name`` (for stamps checked in steps)."""
    entry = _load().get(name)
    return entry if isinstance(entry, tuple) and len(entry) == 2 else None


def store(name: str, stamp: Any, value: Any) -> None:
    """Keep ``value`` as ``name`` with ``stamp`` (marshal-able values only); a cache
    that can't be written is left alone."""
    records = _load()
    if len(records) > MAX_RECORDS:  # sys.path differs per working directory: bounded
        records.clear()
    records["format"] = FORMAT
    records[name] = (stamp, value)
    path = cache_file()
    if not directory_trusted(os.path.dirname(path)):
        return
    if not home_exists():
        return
    try:
        write_private(path, marshal.dumps(records))
    except (OSError, ValueError):
        pass


def forget() -> None:
    """Drop this process's view of the file (tests that change the environment)."""
    global _records
    _records = None


def mtime(path: str) -> int:
    """``path``'s modification time in ns, or -1 when it doesn't exist."""
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return -1
