"""Entry points of one group without importing :mod:`importlib.metadata`.

``importlib.metadata`` costs ~15 ms of CPU to import (it pulls in ``email``,
``zipfile``, ``csv`` and ``pathlib``) and every command line reads the ``vmm`` group,
so the common case is read here directly: every directory on ``sys.path``, its
``*.dist-info`` / ``*.egg-info`` children, their ``entry_points.txt``. The result is
the one ``importlib.metadata.entry_points(group=...)`` gives (Python 3.11): the same
search order, one distribution per normalized name (the first found), the same
parsing of the file.

Anything this reader doesn't mirror exactly goes to ``importlib.metadata`` itself:
a ``sys.meta_path`` finder other than :class:`importlib.machinery.PathFinder` that
finds distributions, a zip or ``.egg`` entry on ``sys.path``, a non-string entry,
an info directory whose name the standard library would resolve through its
METADATA file, or a malformed ``entry_points.txt`` line.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable
from importlib import import_module
from importlib.machinery import PathFinder
from typing import Any

#: The syntax of an entry point's value (``importlib.metadata.EntryPoint.pattern``).
_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")
_INFO_SUFFIXES = (".dist-info", ".egg-info")
#: Errors under which the standard library reads a missing ``entry_points.txt``.
_UNREADABLE = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


class EntryPoint:
    """One entry point: its ``name``, ``value`` (``module`` or ``module:attr``)
    and ``group``; :meth:`load` imports what it names."""

    __slots__ = ("name", "value", "group")

    def __init__(self, name: str, value: str, group: str) -> None:
        self.name, self.value, self.group = name, value, group

    def load(self) -> Any:
        """The module the value names, or the attribute after its colon."""
        match = _VALUE.match(self.value)
        if match is None:
            raise ValueError(f"malformed entry point value {self.value!r}")
        target = import_module(match.group("module"))
        for attribute in filter(None, (match.group("attr") or "").split(".")):
            target = getattr(target, attribute)
        return target

    def __repr__(self) -> str:
        return f"EntryPoint(name={self.name!r}, value={self.value!r}, group={self.group!r})"


class _Unusual(Exception):
    """Something only ``importlib.metadata`` handles the standard way."""


def entry_points(group: str) -> list[Any]:
    """The entry points of ``group`` from every installed distribution, in
    ``importlib.metadata``'s order."""
    try:
        return _read(group)
    except _Unusual:
        from importlib.metadata import entry_points as standard

        return list(standard(group=group))


def _normalize(name: str) -> str:
    """PEP 503 normalization with underscores (``importlib.metadata.Prepared``)."""
    return re.sub(r"[-_.]+", "-", name).lower().replace("-", "_")


def _read(group: str) -> list[EntryPoint]:
    for finder in sys.meta_path:
        if finder is not PathFinder and getattr(finder, "find_distributions", None):
            raise _Unusual(finder)
    found: list[EntryPoint] = []
    seen: set[str] = set()
    for info_dir in _info_dirs(sys.path):
        stem, suffix = os.path.splitext(os.path.basename(info_dir))
        if suffix not in _INFO_SUFFIXES:  # the standard library would read METADATA
            raise _Unusual(info_dir)
        name = _normalize(stem.partition("-")[0])
        if name in seen:
            continue
        seen.add(name)
        found += _parse(_read_text(os.path.join(info_dir, "entry_points.txt")), group)
    return found


def _info_dirs(paths: Iterable[object]) -> list[str]:
    """The info directories of ``paths`` in search order: per path entry, grouped by
    normalized distribution name in the order the names first appear."""
    found: list[str] = []
    for root in paths:
        if not isinstance(root, str) or root.lower().endswith(".egg"):
            raise _Unusual(root)
        try:
            children = os.listdir(root or ".")
        except FileNotFoundError:
            continue
        except OSError:  # a zip file, or unreadable: the standard library's cases
            raise _Unusual(root) from None
        by_name: dict[str, list[str]] = {}
        for child in children:
            low = child.lower()
            if low.endswith(_INFO_SUFFIXES):
                key = _normalize(low.rpartition(".")[0].partition("-")[0])
                by_name.setdefault(key, []).append(os.path.join(root, child))
        for infos in by_name.values():
            found += infos
    return found


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as stream:
            return stream.read()
    except _UNREADABLE:
        return ""


def _parse(text: str, group: str) -> list[EntryPoint]:
    """The ``group`` section's ``name = value`` lines (``importlib.metadata.Sectioned``)."""
    points: list[EntryPoint] = []
    section = None
    for line in map(str.strip, text.splitlines()):
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
            continue
        if section is None:
            continue
        if "=" not in line:
            raise _Unusual(line)
        if section == group:
            name, value = (part.strip() for part in line.split("=", 1))
            points.append(EntryPoint(name, value, group))
    return points
