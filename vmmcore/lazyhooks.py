"""Plugin packages whose hook implementations are imported only when asked for.

Every command line imports every plugin package to read ``VMM_ARCH`` /
``VMM_LAYER_FOR`` / ``VMM_ARCHES``, but only the chosen arch's plugins get
registered. A package that imports its hook modules eagerly makes ``vmm run --arch
x86`` import arm64's loaders and ``vmm --help`` import every plugin's devices. With
:func:`lazy_hooks` the package names where each hook lives; the module is imported
on first attribute access (PEP 562), which pluggy does when it registers the
plugin (it walks ``dir(plugin)``)::

    VMM_ARCH = "arm64"
    __getattr__, __dir__ = lazy_hooks(__name__, {
        ".boot": ("vmm_load_kernel", "vmm_load_initrd"),
        ".machine": ("vmm_core_init",),
    })

``from vmm.plugins.arm64 import vmm_core_init`` keeps working. The table is kept as the
package's ``__lazy_hooks__`` so a test can check that it names every hook
implementation of its modules (a hook left out would silently not be registered).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_hooks(package: str, where: Mapping[str, Iterable[str]],
               ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a plugin package with lazy hooks.

    :param package: the package's ``__name__``.
    :param where: module (relative to ``package``, or absolute) -> names of the hook
        implementations it defines.
    :returns: functions to assign to the package's ``__getattr__`` and ``__dir__``.
    """
    module_of = {name: module for module, names in where.items() for name in names}
    namespace = importlib.import_module(package).__dict__
    namespace["__lazy_hooks__"] = {module: tuple(names) for module, names in where.items()}

    def __getattr__(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value  # later lookups don't come back here
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(module_of))

    return __getattr__, __dir__


def resolve_lazy_hooks(plugin: object) -> None:
    """Import a lazy plugin's hook modules now, just before it is registered.

    pluggy 1.7 finds hook implementations with ``inspect.getattr_static``, which
    never calls a module's ``__getattr__``: the hooks must be real attributes by
    the time ``register()`` looks. Plugins without a lazy table are left alone.
    """
    table = getattr(plugin, "__lazy_hooks__", None)
    if not table:
        return
    for names in table.values():
        for name in names:
            getattr(plugin, name)
