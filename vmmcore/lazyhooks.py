"""Plugin packages whose hook implementations are imported only when asked for.

Every command line imports every plugin package to read ``VMM_ARCH`` /
``VMM_LAYER_FOR`` / ``VMM_ARCHES``, but only the chosen arch's plugins get
registered. A package that imports its hook modules eagerly makes ``vmm run --arch
x86`` import arm64's loaders and ``vmm --help`` import every plugin's devices. With
:func:`lazy_hooks` a hook module is imported on first access to one of its hooks
(PEP 562), which happens when the plugin is registered::

    VMM_ARCH = "arm64"
    __getattr__, __dir__ = lazy_hooks(__name__)

Where each hook lives is derived from the hook implementations themselves: the
package's top-level modules are imported once (in a child Python, so that a cold
start imports no more than a warm one) and every function marked ``@hookimpl``
(defined in that module) is listed under it. The table is kept
(:mod:`vmm.core.startupcache`) with the names, sizes and modification times of the
package's ``.py`` files, and derived again when any of them changes; so adding a
hook is one edit, in its module. The table is the package's ``__lazy_hooks__``.

``from vmm.plugins.arm64 import vmm_core_init`` keeps working.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import startupcache
from .errors import PluginError

#: The attribute pluggy's ``HookimplMarker("vmm")`` sets on a hook implementation.
IMPL_ATTRIBUTE = "vmm_impl"

Table = dict[str, tuple[str, ...]]

#: True while :func:`derive_table` imports a package's modules.
_deriving = False


def lazy_hooks(package: str, where: Mapping[str, Iterable[str]] | None = None,
               ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a plugin package with lazy hooks.

    :param package: the package's ``__name__``.
    :param where: module (relative to ``package``, or absolute) -> names of the hook
        implementations it defines; default: derived (:func:`hook_table`).
    :returns: functions to assign to the package's ``__getattr__`` and ``__dir__``.
    """
    namespace = importlib.import_module(package).__dict__
    given = None if where is None else {module: tuple(names) for module, names in where.items()}
    found: dict[str, str] = {}

    def module_of() -> dict[str, str]:
        if not found:
            table = given if given is not None else hook_table(package)
            namespace["__lazy_hooks__"] = table
            found.update({name: module for module, names in table.items() for name in names})
        return found

    def __getattr__(name: str) -> Any:
        if name == "__lazy_hooks__":
            module_of()
            return namespace[name]
        # Only a hook's name derives the table: ``from . import layout`` asks here
        # first (and a derivation importing the package's modules would ask again). A
        # ``specname=`` implementation's other name is found once the table is read.
        module = (module_of() if name.startswith("vmm_") else found).get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value  # later lookups don't come back here
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(module_of()))

    return __getattr__, __dir__


def hook_table(package: str) -> Table:
    """Module (relative, ``".boot"``) -> the hook implementations it defines, for
    every top-level module of ``package``; stored while its files are unchanged."""
    directory = importlib.import_module(package).__path__[0]
    stamp = _source_stamp(directory)
    record = f"hooks:{package}"
    table = startupcache.lookup(record, stamp)
    if table is None:
        if _deriving:  # would start a derivation per import, without end
            raise PluginError(f"{package}: a module asks the package for a hook while "
                              "its hook table is derived; import the hook from its module")
        table = _derive_elsewhere(package, directory)
        startupcache.store(record, stamp, table)
    return table


def _derive_elsewhere(package: str, directory: str) -> Table:
    """:func:`derive_table` in a child Python, so this process imports only the hook
    modules it needs, warm cache or cold."""
    import marshal
    import subprocess
    import sys

    root = directory
    for _ in package.split("."):
        root = os.path.dirname(root)
    code = ("import marshal, sys; from vmm.core.lazyhooks import derive_table; "
            "sys.stdout.buffer.write(marshal.dumps(derive_table(sys.argv[1])))")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "-c", code, package], capture_output=True,
                            env=env, check=False, timeout=120)
    if result.returncode != 0:  # the error as this process would meet it
        return derive_table(package)
    table = marshal.loads(result.stdout)
    return {module: tuple(names) for module, names in table.items()}


def derive_table(package: str) -> Table:
    """The hook table of ``package`` from its modules' hook implementations
    (imports every top-level module of the package)."""
    global _deriving
    directory = importlib.import_module(package).__path__[0]
    table: Table = {}
    _deriving = True
    try:
        for file in sorted(os.listdir(directory)):
            stem, suffix = os.path.splitext(file)
            if suffix != ".py" or stem == "__init__" or not stem.isidentifier():
                continue
            module = importlib.import_module(f"{package}.{stem}")
            names = tuple(sorted(
                name for name, value in vars(module).items()
                if getattr(value, IMPL_ATTRIBUTE, None) is not None
                and getattr(value, "__module__", None) == module.__name__))
            if names:
                table[f".{stem}"] = names
    finally:
        _deriving = False
    return table


def _source_stamp(directory: str) -> tuple[tuple[str, int, int], ...]:
    """Name, size and modification time of every ``.py`` file in ``directory``."""
    stamp = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.name.endswith(".py"):
                info = entry.stat()
                stamp.append((entry.name, info.st_size, info.st_mtime_ns))
    return tuple(sorted(stamp))


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
