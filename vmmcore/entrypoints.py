"""Entry points of one group, read through :mod:`importlib.metadata` once per change.

``importlib.metadata`` costs ~15 ms of CPU to import (it pulls in ``email``,
``zipfile``, ``csv`` and ``pathlib``) and every command line reads the ``vmm`` group.
So its answer is kept (:mod:`vmm.core.startupcache`) with a stamp of where it came
from: ``sys.path``, the info directories (``*.dist-info``, ``*.egg-info``) in each of
its directories (installing, upgrading or removing a distribution adds, renames or
removes one) and the modification time of each one's ``entry_points.txt`` (an edit
in place). While the stamp matches, the stored ``(name, value)`` pairs are the answer; otherwise
``importlib.metadata.entry_points(group=...)`` is asked again. The standard library
is the only reader of the metadata.

When a ``sys.meta_path`` finder other than :class:`importlib.machinery.PathFinder`
can find distributions, the stamp can't cover it: the standard library is asked
every time.
"""

from __future__ import annotations

import os
import re
import sys
from importlib import import_module
from importlib.machinery import PathFinder
from typing import Any

from . import startupcache

#: The syntax of an entry point's value (``importlib.metadata.EntryPoint.pattern``).
_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")
_INFO_SUFFIXES = (".dist-info", ".egg-info")


class EntryPoint:
    """One entry point as the standard library gave it: its ``name``, ``value``
    (``module`` or ``module:attr``) and ``group``; :meth:`load` imports what it
    names, as :meth:`importlib.metadata.EntryPoint.load` does."""

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


def entry_points(group: str) -> list[Any]:
    """The entry points of ``group`` from every installed distribution, in
    ``importlib.metadata``'s order."""
    if not _stampable():
        from importlib.metadata import entry_points as standard

        return list(standard(group=group))
    paths = tuple(entry or os.getcwd() for entry in sys.path if isinstance(entry, str))
    record = "entry-points:" + "\0".join([group, *paths])
    stamp = _files_stamp(_info_files(paths))
    found = startupcache.lookup(record, stamp)
    if found is None:
        found = _standard_pairs(group)
        if _files_stamp(_info_files(paths)) == stamp:  # nothing was installed meanwhile
            startupcache.store(record, stamp, found)
    return [EntryPoint(name, value, group) for name, value in found]


def _stampable() -> bool:
    """Whether only :class:`PathFinder` finds distributions (what the stamp covers)."""
    return not any(finder is not PathFinder and getattr(finder, "find_distributions", None)
                   for finder in sys.meta_path)


def _standard_pairs(group: str) -> tuple[tuple[str, str], ...]:
    from importlib.metadata import entry_points as standard

    return tuple((point.name, point.value) for point in standard(group=group))


def _info_files(paths: tuple[str, ...]) -> tuple[str, ...]:
    """The ``entry_points.txt`` of every info directory on ``paths``."""
    found: list[str] = []
    for root in paths:
        try:
            children = os.listdir(root)
        except OSError:
            continue
        found += [os.path.join(root, child, "entry_points.txt")
                  for child in children if child.lower().endswith(_INFO_SUFFIXES)]
    return tuple(found)


def _files_stamp(files: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    """``files`` with their modification times now."""
    return tuple((name, startupcache.mtime(name)) for name in files)
