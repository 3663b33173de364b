"""The emulated host's cffi modules, made when its project archive is built.

On a cold cache, :func:`vmm.core.kvm.ffiload.load_ffi` parses each FFI's C
declarations with pycparser and writes a generated module: under TCG that cost
every inner ``vmm run`` several seconds. So the project archive carries those
modules where L1's vmm looks for them (ffiload's default cache under L1's home),
and L1 never parses C.

Which FFIs: every project module that calls ``load_ffi`` is imported, in a child
process of this machine's Python running the copied sources, and ffiload's
registry lists what they loaded (their include order too). The cdef text thus
stays in one place, and a changed cdef changes the project archive's key with the
sources. The modules themselves are written by the target's own Python and cffi
(Debian's, under qemu-user: not this machine's cffi version, which is part of the
cache key), exactly as L1 would write them.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from vmm.core.kvm import ffiload
from vmm.core.nested.errors import PackageError
from vmm.core.nested.initscript import HOME
from vmm.core.nested.pycompile import TargetPython
from vmm.core.usercache import DEFAULT_CACHE_HOME

#: Where L1's vmm looks for the modules: ffiload's default cache under L1's home.
L1_DIRECTORY = Path(HOME) / Path(DEFAULT_CACHE_HOME).relative_to("~") / ffiload.CACHE_SUBDIR
#: The function whose callers declare FFIs.
LOADER = ffiload.load_ffi.__name__


def _calls_loader(source: str) -> bool:
    """Whether Python ``source`` calls ``load_ffi`` (by name or as an attribute)."""
    if LOADER not in source:
        return False
    return any(
        isinstance(node, ast.Call)
        and LOADER in (getattr(node.func, "id", None), getattr(node.func, "attr", None))
        for node in ast.walk(ast.parse(source))
    )


def declaring_modules(site: Path) -> list[str]:
    """The modules under ``site`` whose source calls ``load_ffi``, by import name."""
    modules = []
    for path in sorted(site.rglob("*.py")):
        if _calls_loader(path.read_text()):
            parts = path.relative_to(site).with_suffix("").parts
            modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules


def declared_ffis(site: Path) -> list[dict[str, str]]:
    """What every FFI of the sources under ``site`` is declared as, includes first.

    A child process of this machine's Python imports the declaring modules from
    ``site`` (its registry holds nothing else) and prints the declarations.
    """
    environment = {**os.environ,
                   "PYTHONPATH": os.pathsep.join(filter(None, (str(site), os.environ.get("PYTHONPATH"))))}
    result = subprocess.run(
        [sys.executable, "-B", "-m", __name__, *declaring_modules(site)], cwd=site,
        env=environment, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        raise PackageError(f"cannot list this vmm's FFIs: {lines[-1] if lines else result.returncode}")
    listed: list[dict[str, str]] = json.loads(result.stdout)
    return listed


def generate(root: Path, site: Path, target: TargetPython) -> list[str]:
    """Write the generated module of every FFI under ``site`` into L1's cache
    directory inside ``root`` (the future ``/``), with the target's Python and cffi.

    :returns: the modules' file names.
    """
    declarations = declared_ffis(site)
    directory = root / L1_DIRECTORY.relative_to("/")
    directory.mkdir(parents=True, exist_ok=True)
    script = site.joinpath(*ffiload.__name__.split(".")).with_suffix(".py")
    with tempfile.NamedTemporaryFile("w", prefix="vmm-nested-ffis-", suffix=".json") as listing:
        json.dump(declarations, listing)
        listing.flush()
        # -I: run ffiload.py alone, outside its package (whose __init__ needs pluggy).
        result = subprocess.run(
            [*target.command(), "-I", "-B", str(script), str(directory), listing.name],
            env=target.environment(), stdin=subprocess.DEVNULL, capture_output=True, text=True)
    written = result.stdout.split()
    if result.returncode != 0 or len(written) != len(declarations):
        lines = result.stderr.strip().splitlines()
        raise PackageError(
            f"cannot generate the cffi modules with the target's Python {target.version}: "
            f"{lines[-1] if lines else f'exit status {result.returncode}'}")
    return written


def _print_declarations(modules: list[str]) -> None:
    """Import ``modules`` and print, as JSON, the FFIs they loaded."""
    for module in modules:
        importlib.import_module(module)
    json.dump([spec.declaration() for spec in ffiload.declared_ffis()], sys.stdout)


if __name__ == "__main__":
    _print_declarations(sys.argv[1:])


__all__ = ["L1_DIRECTORY", "declared_ffis", "declaring_modules", "generate"]
