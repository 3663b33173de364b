"""Ask the installed plugins for an architecture's :class:`EmulatedHost`."""

from __future__ import annotations

import importlib
import pkgutil
from importlib.metadata import entry_points
from types import ModuleType

import pluggy

from vmm import NAME
from vmm.core.nested.spec import EmulatedHost

HOOK_MODULE = "emulated_host"


def _candidate_modules() -> list[ModuleType]:
    """Import every module that may implement ``vmm_emulated_host``.

    That is each plugin registered in the ``vmm`` entry-point group and, so that a
    source checkout works without being installed, each ``plugins.*.emulated_host``
    module next to the core.
    """
    modules: list[ModuleType] = []
    for entry in entry_points(group=NAME):
        try:
            modules.append(importlib.import_module(entry.value.split(":")[0]))
        except ImportError:
            continue
    try:
        plugins_package = importlib.import_module("vmm.plugins")
    except ImportError:
        return modules
    for info in pkgutil.iter_modules(plugins_package.__path__, "vmm.plugins."):
        try:
            modules.append(importlib.import_module(f"{info.name}.{HOOK_MODULE}"))
        except ImportError:
            continue
    return modules


def find_emulated_host(arch: str) -> EmulatedHost | None:
    """Return the emulated host the plugins describe for ``arch``, or None."""
    from vmm import hookspecs

    manager = pluggy.PluginManager(NAME)
    manager.add_hookspecs(hookspecs)
    for module in _candidate_modules():
        if manager.is_registered(module):
            continue
        try:
            manager.register(module)
        except ValueError:
            continue
    host: EmulatedHost | None = manager.hook.vmm_emulated_host(arch=arch)
    return host
