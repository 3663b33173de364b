"""Options contributed by plugins (``vmm_addoption``, ``vmm_nested_addoption``):
declared, parsed, bound.

Typer vendors its own Click, so plugins can't add Click options; instead each plugin
declares options on its :class:`OptionGroup`, and the core builds the ``run`` (or
``nested``) command's signature from them (:func:`typer_parameter`), each plugin in
its own help panel.

Each plugin then reads its values from its own read-only namespace,
``config.options_of("arm64").disable_sve`` (an :class:`OptionValues`): every option
it declared, with the declared default when not given. :func:`bind_options` builds
the namespaces once the run's plugins are known. Nobody writes them: a plugin that
changes what another does uses a hook or a wrapper (arm64's ``vmm_arm64_sve``), and
a value a plugin derives from its options (a parsed address) is computed where it
is needed or kept in the plugin's stash.

Options that name a file vmm writes (``--dtb-out FILE``...) are checked when the
configuration is validated (:func:`check_output_file`, so a bad path fails before
the VM is built) and written with :func:`write_output_file`.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn

from .errors import ConfigError

if TYPE_CHECKING:
    import pluggy


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


class OptionValues:
    """One plugin's option values, read-only: ``values.disable_sve``.

    Every option the plugin declared is an attribute (by ``dest``); reading one it
    didn't declare, or writing any, raises AttributeError naming the plugin.
    """

    __slots__ = ("_plugin", "_values")
    _plugin: str
    _values: dict[str, Any]

    def __init__(self, plugin: str, values: Mapping[str, Any] | None = None) -> None:
        object.__setattr__(self, "_plugin", plugin)
        object.__setattr__(self, "_values", dict(values or {}))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"plugin {self._plugin!r} has no option {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError(
            f"the options of plugin {self._plugin!r} are read-only: change what a plugin "
            "does through a hook or a wrapper"
        )

    __delattr__ = __setattr__  # type: ignore[assignment]

    @property
    def plugin(self) -> str:
        """The name of the plugin the options belong to."""
        return self._plugin

    def as_dict(self) -> dict[str, Any]:
        """The values by destination name (a copy)."""
        return dict(self._values)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OptionValues):
            return NotImplemented
        return (self._plugin, self._values) == (other._plugin, other._values)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"OptionValues({self._plugin!r}, {self._values!r})"


def collect_option_groups(pm: pluggy.PluginManager, arch: str | None = None,
                          hook: str = "vmm_addoption") -> list[OptionGroup]:
    """Ask every registered plugin for its options for ``arch``, one group per plugin.

    :param hook: the hook declaring them: ``vmm_addoption`` (``vmm run``) or
        ``vmm_nested_addoption`` (``vmm nested``).

    The hook is called through pluggy once per plugin that
    implements it, in pluggy's call order (``tryfirst``/``trylast``, ``specname=``
    and blocked plugins are pluggy's business), with that plugin's group. Every
    wrapper of the hook (any plugin's) wraps each of those calls, so a wrapper sees
    and may extend each plugin's group. (A plugin that both wraps the hook and
    implements it declares its own options from the wrapper, or in another plugin:
    its plain implementation would run in every plugin's call.)
    """
    caller = getattr(pm.hook, hook)
    impls = caller.get_hookimpls()  # pluggy calls them last to first
    wrapping = {impl.plugin for impl in impls if impl.hookwrapper or impl.wrapper}
    groups = []
    asked: list[object] = []
    for impl in reversed(impls):
        if impl.hookwrapper or impl.wrapper or impl.plugin in asked:
            continue
        asked.append(impl.plugin)
        others = [plugin for plugin in pm.get_plugins()
                  if plugin is not impl.plugin and plugin not in wrapping]
        name = pm.get_name(impl.plugin)
        group = OptionGroup(name if name is not None else repr(impl.plugin), arch=arch)
        pm.subset_hook_caller(caller.name, remove_plugins=others)(group=group)
        if group.options:
            groups.append(group)
    return groups


def typer_parameter(option: Option, panel: str) -> inspect.Parameter:
    """The keyword parameter a command's signature gets for ``option`` (typer reads
    it), shown in the help panel ``panel``."""
    import typer

    base: Any = option.type
    if option.choices:
        base = Literal[option.choices]
    if option.multiple:
        annotation: Any = list[base]
        default: Any = list(option.default or [])
    elif option.type is bool:
        annotation, default = bool, bool(option.default)
    else:
        annotation, default = base | None, option.default
    info = typer.Option(*option.flags, help=option.help, rich_help_panel=panel,
                        metavar=option.metavar)
    return inspect.Parameter(option.dest, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=Annotated[annotation, info])


def route_options(groups: Iterable[OptionGroup], values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Values by destination (as parsed from a command line) -> by plugin, then
    destination; an option no plugin in ``groups`` declares is a ConfigError."""
    plugin_of = {option.dest: group.name for group in groups for option in group.options}
    routed: dict[str, dict[str, Any]] = {}
    for dest, value in values.items():
        if dest not in plugin_of:
            raise ConfigError(f"--{dest.replace('_', '-')}: no plugin loaded for this run "
                              "declares that option")
        routed.setdefault(plugin_of[dest], {})[dest] = value
    return routed


def bind_options(given: Mapping[str, Mapping[str, Any]], groups: Iterable[OptionGroup],
                 arch: str) -> dict[str, OptionValues]:
    """Every plugin's option namespace: the values ``given`` (by plugin, then
    destination), the declared default for the rest.

    :param groups: the run's plugins' declarations (:func:`collect_option_groups`).
    :param arch: the run's architecture, for the error messages.
    :raises ConfigError: for a value of a plugin that isn't loaded, or of an option
        its plugin doesn't declare.
    """
    bound = {group.name: OptionValues(group.name, {option.dest: option.default
                                                   for option in group.options})
             for group in groups}
    for plugin, values in given.items():
        declared = bound.get(plugin)
        if declared is None:
            names = ", ".join(f"--{dest.replace('_', '-')}" for dest in values)
            raise ConfigError(f"{names}: an option of plugin {plugin!r}, which is not loaded "
                              f"for --arch {arch}; drop it or choose another --arch")
        unknown = set(values) - set(declared.as_dict())
        if unknown:
            raise ConfigError(f"plugin {plugin!r} has no option {sorted(unknown)[0]!r}")
        bound[plugin] = OptionValues(plugin, {**declared.as_dict(), **values})
    return bound


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
