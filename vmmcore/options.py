"""Options contributed by plugins (``vmm_addoption``), turned into typer parameters.

Typer vendors its own Click, so plugins can't add Click options; instead each plugin
declares options on its :class:`OptionGroup`, and the core builds the ``run``
command's signature from them, each plugin in its own help panel.

Options that name a file vmm writes (``--dtb-out FILE``...) are checked when the
configuration is validated (:func:`check_output_file`, so a bad path fails before
the VM is built) and written with :func:`write_output_file`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError


@dataclass
class Option:
    """One command-line option declared by a plugin."""

    flags: tuple[str, ...]
    dest: str
    type: type
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    multiple: bool = False
    metavar: str | None = None


@dataclass
class OptionGroup:
    """The options of one plugin; shown as one panel in ``vmm run --help``."""

    name: str
    options: list[Option] = field(default_factory=list)

    def addoption(
        self,
        *flags: str,
        type: type = str,
        default: Any = None,
        help: str = "",
        dest: str | None = None,
        choices: tuple[str, ...] | None = None,
        multiple: bool = False,
        metavar: str | None = None,
    ) -> None:
        """Declare an option: ``group.addoption("--my-flag", type=bool, help=...)``.

        ``type=bool`` makes a flag. ``dest`` defaults to the long flag's name with
        dashes turned into underscores.
        """
        if not flags or not any(flag.startswith("--") for flag in flags):
            raise ValueError(f"option {flags!r} of plugin {self.name} needs a --long flag")
        long_flag = next(flag for flag in flags if flag.startswith("--"))
        name = dest or long_flag[2:].replace("-", "_")
        if bool is type and default is None:
            default = False
        self.options.append(
            Option(tuple(flags), name, type, default, help, choices, multiple, metavar)
        )


def check_output_file(flag: str, path: str | None) -> None:
    """Refuse an output ``path`` in a missing directory or naming a directory, in one
    line naming ``flag``; nothing to check when ``path`` is empty."""
    if not path:
        return
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ConfigError(f"{flag} {path!r}: directory {directory!r} does not exist")
    if os.path.isdir(path):
        raise ConfigError(f"{flag} {path!r} is a directory; give a file name")


def write_output_file(flag: str, path: str | None, data: bytes) -> None:
    """Write ``data`` to the file ``flag`` named (nothing when ``path`` is empty); a
    write error is a one-line ConfigError."""
    if not path:
        return
    try:
        with open(path, "wb") as handle:
            handle.write(data)
    except OSError as error:
        raise ConfigError(f"{flag} {path!r}: can't write it ({error.strerror})") from None
