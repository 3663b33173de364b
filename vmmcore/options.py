"""Options contributed by plugins (``vmm_addoption``), turned into typer parameters.

Typer vendors its own Click, so plugins can't add Click options; instead each plugin
declares options on its :class:`OptionGroup`, and the core builds the ``run``
command's signature from them, each plugin in its own help panel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
    """The options of one plugin; shown as one panel in ``vmm run --help``.

    ``arch`` is the architecture the command line is built for (``--arch``, else
    the host's), so a plugin can declare different options per architecture; an
    option can also say which architectures it applies to (``arches=``).
    """

    name: str
    options: list[Option] = field(default_factory=list)
    arch: str | None = None

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
        arches: tuple[str, ...] | None = None,
    ) -> None:
        """Declare an option: ``group.addoption("--my-flag", type=bool, help=...)``.

        ``type=bool`` makes a flag. ``dest`` defaults to the long flag's name with
        dashes turned into underscores. ``arches=("x86",)`` declares the option only
        for those architectures: for any other ``--arch`` it does not exist (not in
        ``vmm run --help``; given anyway, it is an unknown option).
        """
        if not flags or not any(flag.startswith("--") for flag in flags):
            raise ValueError(f"option {flags!r} of plugin {self.name} needs a --long flag")
        if arches is not None and (isinstance(arches, str)
                                   or not all(isinstance(a, str) for a in arches)):
            raise ValueError(f"option {flags[0]} of plugin {self.name}: arches must be a "
                             f"tuple of names, got {arches!r}")
        if arches is not None and self.arch is not None and self.arch not in arches:
            return
        long_flag = next(flag for flag in flags if flag.startswith("--"))
        name = dest or long_flag[2:].replace("-", "_")
        if bool is type and default is None:
            default = False
        self.options.append(
            Option(tuple(flags), name, type, default, help, choices, multiple, metavar)
        )
