"""The plugin manager factory: built per run, never at import time.

Registration order (pluggy calls the last registered first):

1. the core (``vmm.core.coreplugin``), 2. plugins for every architecture (``virtio``),
3. exactly one arch plugin (its module sets ``VMM_ARCH``), 4. the layers on that
arch (their modules set ``VMM_LAYER_FOR``), 5. other entry-point plugins. Then
``check_pending()`` catches misspelled hooks. Any plugin can be blocked by name.

A plugin module may declare ``VMM_ARCHES = ("x86", ...)``: it then loads only for
those architectures.

The architectures are those of the installed arch plugins (:func:`known_arches`):
the core has no list of its own, so a third-party arch plugin is one more choice of
``--arch``. An arch plugin also names the host machines it runs on natively
(``VMM_HOST_MACHINES``, ``os.uname().machine`` values), which gives ``--arch``'s
default (:func:`host_arch`).
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType

import pluggy

from vmm import NAME, hookspecs

from .entrypoints import entry_points
from .errors import ConfigError, PluginError, UsageError

CORE = "core"
GROUP = NAME


@dataclass
class PluginEntry:
    """One plugin found through the entry-point group."""

    name: str
    module: ModuleType

    @property
    def arch(self) -> str | None:
        return getattr(self.module, "VMM_ARCH", None)

    @property
    def layer_for(self) -> str | None:
        return getattr(self.module, "VMM_LAYER_FOR", None)

    @property
    def arches(self) -> tuple[str, ...] | None:
        return getattr(self.module, "VMM_ARCHES", None)

    @property
    def host_machines(self) -> tuple[str, ...]:
        return tuple(getattr(self.module, "VMM_HOST_MACHINES", ()))


#: The last :func:`discover` result, with the ``entry_points`` function that produced
#: it (reading the entry points cost ~7 ms with importlib.metadata; a command line
#: asks more than once).
_discovered: tuple[object, list[PluginEntry]] | None = None


def discover() -> list[PluginEntry]:
    """Import every plugin of the ``vmm`` entry-point group (read once per process)."""
    global _discovered
    if _discovered is None or _discovered[0] is not entry_points:
        _discovered = (entry_points, _discover())
    return list(_discovered[1])


def _discover() -> list[PluginEntry]:
    found: list[PluginEntry] = []
    seen: set[str] = set()
    for point in entry_points(group=GROUP):
        if point.name in seen:
            continue
        seen.add(point.name)
        try:
            module = point.load()
        except Exception as error:  # a broken third-party plugin
            raise PluginError(f"plugin {point.name!r} failed to import: {error}") from None
        found.append(PluginEntry(point.name, module))
    if not any(entry.name == CORE for entry in found):
        found.insert(0, PluginEntry(CORE, importlib.import_module("vmm.core.coreplugin")))
    return found


def known_arches(entries: list[PluginEntry] | None = None) -> tuple[str, ...]:
    """The architectures the arch plugins among ``entries`` (default: the installed
    plugins) provide, sorted by name."""
    found = entries if entries is not None else discover()
    return tuple(sorted({entry.arch for entry in found if isinstance(entry.arch, str)}))


def host_arch() -> str:
    """The architecture whose plugin runs natively on this machine (its
    ``VMM_HOST_MACHINES`` names ``os.uname().machine``), else the machine's name."""
    machine = os.uname().machine.lower()  # platform.machine(), without importing platform
    for entry in discover():
        if entry.arch is not None and machine in entry.host_machines:
            return entry.arch
    return machine


def check_targets(entry: PluginEntry, known: tuple[str, ...]) -> None:
    """Refuse a plugin that targets an architecture no installed plugin provides.

    ``VMM_LAYER_FOR`` and every name in ``VMM_ARCHES`` must be one of ``known``
    (:func:`known_arches`), and ``VMM_ARCH`` a name; the error names the plugin and
    the bad value.
    """
    if entry.arch is not None and not isinstance(entry.arch, str):
        raise PluginError(f"plugin {entry.name!r}: VMM_ARCH must be a name, got {entry.arch!r}")
    declared = [("VMM_LAYER_FOR", entry.layer_for)]
    arches = entry.arches
    if arches is not None:
        if isinstance(arches, str) or not all(isinstance(a, str) for a in arches):
            raise PluginError(
                f"plugin {entry.name!r}: VMM_ARCHES must be a tuple of names, got {arches!r}"
            )
        declared += [("VMM_ARCHES", name) for name in arches]
    for attribute, value in declared:
        if value is not None and value not in known:
            raise PluginError(
                f"plugin {entry.name!r}: {attribute} names unknown architecture {value!r} "
                f"(known: {', '.join(known)})"
            )


def _ordered(entries: list[PluginEntry], arch: str) -> list[PluginEntry]:
    core = [entry for entry in entries if entry.name == CORE]
    arch_plugins = [entry for entry in entries if entry.arch == arch]
    layers = [entry for entry in entries if entry.layer_for == arch]
    general = [
        entry
        for entry in entries
        if entry.name != CORE and entry.arch is None and entry.layer_for is None
    ]
    builtin_general = [entry for entry in general if entry.module.__name__.startswith("vmm.plugins.")]
    third_party = [entry for entry in general if entry not in builtin_general]
    if len(arch_plugins) != 1:
        names = ", ".join(entry.name for entry in arch_plugins) or "none"
        raise PluginError(f"exactly one plugin must provide arch {arch!r} (found: {names})")
    return core + builtin_general + arch_plugins + layers + third_party


def build_manager(
    arch: str,
    blocked: Iterable[str] = (),
    entries: list[PluginEntry] | None = None,
    extra: Iterable[tuple[str, object]] = (),
) -> pluggy.PluginManager:
    """A plugin manager for one VM of architecture ``arch``.

    :param blocked: plugin names not to register (``-p no:NAME`` / ``--block NAME``).
    :param entries: the plugins to choose from (default: the entry points).
    :param extra: additional ``(name, plugin)`` pairs registered last (tests).
    """
    all_entries = entries if entries is not None else discover()
    arches = known_arches(all_entries)
    if arch not in arches:
        raise ConfigError(f"unknown architecture {arch!r}: choose one of {', '.join(arches)}")
    blocked = set(blocked)
    extra = list(extra)
    if CORE in blocked:
        raise ConfigError("the core plugin can't be blocked")
    known = {entry.name for entry in all_entries} | {name for name, _ in extra}
    unknown = sorted(blocked - known)
    if unknown:
        raise UsageError(f"--block {unknown[0]}: no plugin has that name (installed: "
                         f"{', '.join(sorted(known))})")
    pm = pluggy.PluginManager(NAME)
    pm.add_hookspecs(hookspecs)
    # Each plugin's vmm_addhooks runs as it registers, before the later plugins
    # (its layers) whose implementations need its hookspecs.
    pm.hook.vmm_addhooks.call_historic(kwargs={"pluginmanager": pm})
    for name in blocked:
        pm.set_blocked(name)
    wanted = [entry for entry in all_entries if entry.name not in blocked]
    for entry in wanted:
        check_targets(entry, arches)
    for entry in _ordered(wanted, arch):
        if entry.arches is not None and arch not in entry.arches:
            continue
        _register(pm, entry.module, entry.name)
    for name, plugin in extra:
        _register(pm, plugin, name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as error:
        raise PluginError(_describe_validation(pm, error)) from None
    return pm


def _register(pm: pluggy.PluginManager, plugin: object, name: str) -> None:
    from .lazyhooks import resolve_lazy_hooks

    try:
        resolve_lazy_hooks(plugin)
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as error:
        raise PluginError(f"plugin {name!r} is invalid: {_one_line(error)}") from None
    except ValueError as error:
        raise PluginError(f"plugin {name!r} can't be registered: {error}") from None


def _one_line(error: pluggy.PluginValidationError) -> str:
    """pluggy's multi-line registration error as one line: the hook and the reason."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    hook = re.search(r"for hook '([^']+)'", lines[0]) if lines else None
    reason = lines[-1] if lines else repr(error)
    return f"{hook.group(1)}: {reason}" if hook else reason


def _describe_validation(pm: pluggy.PluginManager, error: pluggy.PluginValidationError) -> str:
    name = pm.get_name(error.plugin) or repr(error.plugin)
    unknown = [
        impl.function.__name__
        for hook in pm.hook.__dict__.values()
        if isinstance(hook, pluggy.HookCaller) and not hook.has_spec()
        for impl in hook.get_hookimpls()
        if impl.plugin is error.plugin
    ]
    what = f"unknown hook {', '.join(unknown)}" if unknown else str(error)
    return f"plugin {name!r}: {what} (misspelled hook name?)"


def catalogue(hook: str = "vmm_add_commands") -> pluggy.PluginManager:
    """A manager with every installed plugin, whatever its architecture, for a hook
    asked of them all: ``vmm_add_commands`` (building the command line) or
    ``vmm_emulated_host`` (``vmm nested``); nothing runs a VM through it.

    pluggy reads the implementations (``specname=``, ``tryfirst``, wrappers...), but
    a plugin with lazy hook modules is registered as a view without the modules that
    implement only other hooks, so ``vmm --help`` imports no device or loader code
    (:func:`hook_view`).
    """
    pm = pluggy.PluginManager(NAME)
    pm.add_hookspecs(hookspecs)
    for entry in discover():
        if pm.get_plugin(entry.name) is None:
            _register(pm, hook_view(entry.module, hook), entry.name)
    return pm


def hook_view(module: ModuleType, hook: str) -> object:
    """``module`` itself, or for a package with a lazy hook table
    (:mod:`.lazyhooks`) a namespace of what it has imported plus the lazy names that
    may implement ``hook``: ``hook`` itself and every name not spelled ``vmm_...``
    (such a name may be a ``specname=`` implementation of anything, so it is
    imported); a lazy ``vmm_other_hook`` is taken to implement the hook it names."""
    table = getattr(module, "__lazy_hooks__", None)  # a lazy package derives it here
    if not table:
        return module
    view = ModuleType(module.__name__, module.__doc__)  # hashable, as pluggy's plugins
    for name, value in vars(module).items():
        if name not in ("__getattr__", "__dir__", "__lazy_hooks__", "__name__", "__doc__"):
            setattr(view, name, value)
    for names in table.values():
        for name in names:
            if name == hook or not name.startswith(f"{NAME}_"):
                setattr(view, name, getattr(module, name))
    return view


def implemented_hooks(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """Names of the hooks ``plugin`` implements in ``pm``."""
    return sorted({caller.name for caller in pm.get_hookcallers(plugin) or []})
