"""Options contributed by plugins (``vmm_addoption``, ``vmm_nested_addoption``),
turned into typer parameters.

Typer vendors its own Click, so plugins can't add Click options; instead each plugin
declares options on its :class:`OptionGroup`, and the core builds the ``run`` (or
``nested``) command's signature from them, each plugin in its own help panel.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Optional


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


def collect_option_groups(pm: Any, hook: str = "vmm_addoption") -> list[OptionGroup]:
    """Ask every plugin registered in ``pm`` for its options, one group per plugin.

    :param hook: the hook declaring them: ``vmm_addoption`` (``vmm run``) or
        ``vmm_nested_addoption`` (``vmm nested``).
    """
    groups = []
    for name, plugin in pm.list_name_plugin():
        impl = getattr(plugin, hook, None)
        if impl is None:
            continue
        group = OptionGroup(name)
        impl(group=group)
        if group.options:
            groups.append(group)
    return groups


def typer_parameter(option: Option, panel: str) -> inspect.Parameter:
    """The keyword parameter a command's signature gets for ``option`` (typer reads
    it), shown in the help panel ``panel``."""
    import typer

    base: Any = option.type
    if option.choices:
        base = Literal[option.choices]  # type: ignore[valid-type]
    if option.multiple:
        annotation: Any = list[base]
        default: Any = list(option.default or [])
    elif option.type is bool:
        annotation, default = bool, bool(option.default)
    else:
        annotation, default = Optional[base], option.default
    info = typer.Option(*option.flags, help=option.help, rich_help_panel=panel,
                        metavar=option.metavar)
    return inspect.Parameter(option.dest, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=Annotated[annotation, info])
