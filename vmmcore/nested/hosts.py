"""Ask the installed plugins for an architecture's :class:`EmulatedHost`."""

from __future__ import annotations

import functools
import importlib
import pkgutil
from importlib.metadata import entry_points
from types import ModuleType, SimpleNamespace
from typing import TYPE_CHECKING, Any

import pluggy

from vmm import NAME
from vmm.core.nested.spec import EmulatedHost

if TYPE_CHECKING:
    from vmm.core.options import OptionGroup

HOOK_MODULE = "emulated_host"
#: The hooks of ``vmm nested``: only these are taken from each plugin, so that a
#: plugin whose hook modules load lazily imports nothing else.
NESTED_HOOKS = ("vmm_emulated_host", "vmm_nested_addoption")


def _candidate_modules() -> dict[str, ModuleType]:
    """Every module that may implement the hooks of ``vmm nested``, by plugin name.

    That is each plugin registered in the ``vmm`` entry-point group and, so that a
    source checkout works without being installed, the ``plugins.*.emulated_host``
    module of each plugin package next to the core that is not registered already.
    """
    modules: dict[str, ModuleType] = {}
    for entry in entry_points(group=NAME):
        try:
            modules.setdefault(entry.name, importlib.import_module(entry.value.split(":")[0]))
        except ImportError:
            continue
    try:
        plugins_package = importlib.import_module("vmm.plugins")
    except ImportError:
        return modules
    registered = {module.__name__ for module in modules.values()}
    for info in pkgutil.iter_modules(plugins_package.__path__, "vmm.plugins."):
        if info.name in registered:
            continue
        try:
            module = importlib.import_module(f"{info.name}.{HOOK_MODULE}")
        except ImportError:
            continue
        modules.setdefault(info.name.rpartition(".")[2], module)
    return modules


@functools.cache
def nested_manager() -> pluggy.PluginManager:
    """A plugin manager holding each plugin's ``vmm nested`` hooks."""
    from vmm import hookspecs

    manager = pluggy.PluginManager(NAME)
    manager.add_hookspecs(hookspecs)
    for name, module in _candidate_modules().items():
        hooks = {hook: getattr(module, hook) for hook in NESTED_HOOKS
                 if getattr(module, hook, None) is not None}
        if hooks:
            manager.register(SimpleNamespace(**hooks), name=name)
    return manager


def nested_option_groups() -> list[OptionGroup]:
    """The options plugins add to ``vmm nested``, one group per plugin."""
    from vmm.core.options import collect_option_groups

    return collect_option_groups(nested_manager(), "vmm_nested_addoption")


def find_emulated_host(arch: str, options: dict[str, Any] | None = None) -> EmulatedHost | None:
    """Return the emulated host the plugins describe for ``arch``, or None.

    :param options: values of the plugins' ``vmm nested`` options, by destination.
    """
    return nested_manager().hook.vmm_emulated_host(arch=arch, options=dict(options or {}))
