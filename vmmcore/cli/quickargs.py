"""``vmm run``'s options read without typer, for command lines that need nothing else.

Importing typer and building the command costs ~30 ms of CPU, a quarter of a run's
start-up. Most command lines are plain options in their usual spellings, and for
those the values typer would hand the command are known from the option table
alone. :func:`parse_options` reads exactly those command lines and returns ``None``
for anything else: help, an unknown option, a missing or malformed value, a
positional word, ``--``, a short option with its value attached, a value that
starts with ``-``. typer then parses the command line as it always did, so every
help page and every usage error is typer's own.

The values match typer's (tests compare both on many command lines): one entry per
option in declaration order, defaults as declared, ``int`` options as ``int``,
choices as the given string, flags ``True`` when present, repeatable options as
lists, the last value of a repeated single-value option.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..options import Option

#: Returned by :func:`convert_value` for a value typer would reject.
INVALID = object()


def parse_options(words: list[str], options: Iterable[Option]) -> dict[str, Any] | None:
    """The option values of ``vmm run``'s words (after ``run``), or None for typer."""
    table = _flag_table(options)
    if table is None:
        return None
    flags, defaults = table
    values = dict(defaults)
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if word.startswith("--") and len(word) > 2:
            flag, equals, attached = word.partition("=")
            value: str | None = attached if equals else None
        elif word.startswith("-") and len(word) == 2 and word != "--":
            flag, value = word, None
        else:
            return None
        option = flags.get(flag)
        if option is None:
            return None
        if option.type is bool:
            if value is not None:
                return None
            values[option.dest] = True
            continue
        if value is None:
            if index == len(words) or words[index].startswith("-"):
                return None
            value = words[index]
            index += 1
        converted = convert_value(option, value)
        if converted is INVALID:
            return None
        if option.multiple:
            values[option.dest] = [*values[option.dest], converted]
        else:
            values[option.dest] = converted
    return values


def _flag_table(options: Iterable[Option]) -> tuple[dict[str, Option], dict[str, Any]] | None:
    """Every flag's option and every option's default, or None when an option is of a
    kind this module doesn't mirror (typer then handles the command line)."""
    flags: dict[str, Option] = {}
    defaults: dict[str, Any] = {}
    for option in options:
        if not _mirrored(option) or option.dest in defaults:
            return None
        for flag in option.flags:
            if flag in flags:
                return None
            flags[flag] = option
        defaults[option.dest] = list(option.default or []) if option.multiple else option.default
    return flags, defaults


def _mirrored(option: Option) -> bool:
    """Whether typer's value for ``option`` is known here: a flag that is off by
    default, or a str/int option (possibly repeatable) whose default needs no
    conversion."""
    if option.type is bool:
        return not option.multiple and option.default is False and not option.choices
    if option.type not in (str, int) or (option.choices and option.type is not str):
        return False
    defaults = (option.default or []) if option.multiple else [option.default]
    return all(value is None or convert_value(option, value) == value for value in defaults)


def convert_value(option: Option, value: Any) -> Any:
    """``value`` as typer converts it for ``option``, or :data:`INVALID`."""
    if option.choices:
        return value if value in option.choices else INVALID
    if option.type is int:
        if isinstance(value, bool):
            return INVALID
        try:
            return int(value)
        except ValueError:
            return INVALID
    return value if isinstance(value, str) else INVALID
