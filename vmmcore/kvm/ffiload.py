"""FFIs without parsing C at start-up: cffi's out-of-line ABI mode, cached per user.

``ffi.cdef()`` runs pycparser over the declarations on every start (the largest
share of vmm's start-up). :func:`load_ffi` instead has cffi emit, once, a pure-Python
module holding the parsed types (``set_source(name, None)`` + ``emit_python_code``:
no C compiler involved) into ``$XDG_CACHE_HOME/vmm/cffi/`` (default ``~/.cache``),
and imports that module on later starts. The module's name carries a hash of the
declarations, the packing, the included FFIs and the cffi backend's version, so a
changed cdef or cffi makes a new module and never reuses a stale one.

A cached module is executed only if this user could have been its only writer, as
pip and Python's own caches check: the module and the directories ``vmm/cffi`` and
``vmm`` must be owned by the running user and writable by no one else (the file no
symbolic link). A module failing that is regenerated; a directory failing it is
not used at all (the FFIs are then built in-line). Directories vmm creates are
private (0700).

Files are written to a temporary name in the cache directory and renamed, so two
processes starting at once with a cold cache both end up with a whole module. When
the cache can't be written (read-only home, no home), the FFI is built in-line with
``ffi.cdef`` exactly as before: slower, same types.

An FFI may include another one loaded by this function: the included declarations
are declared again in the including FFI, ahead of its own, so every generated module
stands alone. (cffi's own ``include()`` in out-of-line mode looks included types up
by name, and cffi names anonymous nested structs ``$1``, ``$2``... per FFI, so an
includer's ``$1`` would resolve to the included FFI's ``$1``.) Cdata of the two
FFIs mix as before: ``ffi.CData`` is the backend's one class, and the layouts are
the same declarations.

Run as a script (``python ffiload.py DIRECTORY DECLARATIONS.json``, outside its
package so that nothing but cffi is imported), it writes the modules of the FFIs
listed by :func:`declared_ffis` into DIRECTORY with the running interpreter's cffi:
``vmm nested`` does so with the emulated host's own Python and cffi, so that vmm
there finds every module already made.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

import _cffi_backend

if __package__:  # run as a script (vmm nested), only write_modules is used
    from ..usercache import cache_root, directory_trusted, home_exists, only_ours

try:  # hashlib would load OpenSSL (~3 ms) just for this hash
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - a Python built without _blake2
    from hashlib import blake2b

#: Where the generated modules go, under the cache root.
CACHE_SUBDIR = os.path.join("vmm", "cffi")
MODULE_PREFIX = "_vmm_ffi_"
#: Part of every cache key: bump it when the way modules are generated changes.
GENERATOR_VERSION = "1"

#: An FFI as :func:`load_ffi` returns it: ``_cffi_backend.FFI`` (generated module) or
#: ``cffi.FFI`` (in-line fallback); both offer the same methods.
Ffi = Any


@dataclass(frozen=True)
class FfiSpec:
    """What an FFI is made of: everything that goes into its cache key."""

    name: str
    cdef: str
    packed: str
    include: FfiSpec | None
    key: str

    @property
    def module_name(self) -> str:
        """The generated module's import name (and file name, with ``.py``)."""
        return f"{MODULE_PREFIX}{self.name}_{self.key}"

    def declaration(self) -> dict[str, str]:
        """What :func:`load_ffi` was given, as JSON-ready strings (the included FFI
        by name): the cffi-independent part of the spec."""
        include = self.include.name if self.include else ""
        return {"name": self.name, "cdef": self.cdef, "packed": self.packed, "include": include}


#: The spec of every FFI handed out, by ``id(ffi)`` (the FFIs live as long as
#: their modules, so ids aren't reused); the FFI is kept beside it for that reason.
_loaded: dict[int, tuple[Any, FfiSpec]] = {}


def cache_dir() -> str:
    """The directory holding the generated FFI modules (not created here)."""
    return os.path.join(cache_root(), CACHE_SUBDIR)


def load_ffi(name: str, cdef: str, *, packed: str = "", include: Ffi | None = None) -> Ffi:
    """An FFI declaring ``cdef`` (and ``packed``, whose structs are packed).

    :param name: a short identifier naming the FFI in its cache file (``"kvm"``).
    :param cdef: C declarations, as for ``ffi.cdef``.
    :param packed: more declarations, as for ``ffi.cdef(..., packed=True)``.
    :param include: an FFI returned by this function whose declarations this one
        also has (and ``cdef`` may use), like ``ffi.include``.
    :returns: an FFI with ``sizeof``, ``offsetof``, ``new``, ``cast``, ``typeof``,
        ``from_buffer``, ``dlopen``... as an in-line one.
    """
    if not name.isidentifier():
        raise ValueError(f"FFI name {name!r} is not an identifier")
    included = _spec_of(include) if include is not None else None
    spec = _spec(name, cdef, packed, included)
    ffi = _imported(spec)
    if ffi is None:  # no usable cache: parse now, as ``ffi.cdef`` always did
        ffi = _builder(spec)
    _loaded[id(ffi)] = (ffi, spec)
    return ffi


def declared_ffis() -> list[FfiSpec]:
    """The spec of every FFI handed out in this process, each once, in the order
    they were first loaded (an included FFI before the FFIs including it)."""
    specs: dict[str, FfiSpec] = {}
    for _, spec in _loaded.values():
        specs.setdefault(spec.module_name, spec)
    return list(specs.values())


def _spec(name: str, cdef: str, packed: str, include: FfiSpec | None) -> FfiSpec:
    return FfiSpec(name, cdef, packed, include, _key(name, cdef, packed, include))


def _spec_of(ffi: Any) -> FfiSpec:
    entry = _loaded.get(id(ffi))
    if entry is None or entry[0] is not ffi:
        raise TypeError("load_ffi can only include an FFI that load_ffi returned")
    return entry[1]


def _key(name: str, cdef: str, packed: str, include: FfiSpec | None) -> str:
    digest = blake2b(digest_size=10)
    parts = (GENERATOR_VERSION, _cffi_backend.__version__, name, cdef, packed,
             include.key if include else "")
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _imported(spec: FfiSpec) -> Any | None:
    """The FFI from the cached module, generating it if needed; None if the cache is
    unusable."""
    module = sys.modules.get(spec.module_name)
    if module is not None:
        return module.ffi
    directory = cache_dir()
    if not directory_trusted(directory):
        return None  # someone else could write there: build in-line, write nothing
    path = os.path.join(directory, spec.module_name + ".py")
    if only_ours(path, follow=False):  # else missing, or regenerated below
        ffi = _import(spec.module_name, path)
        if ffi is not None:
            return ffi
    if not home_exists():
        return None
    try:
        _generate(spec, path)
    except OSError:
        return None
    return _import(spec.module_name, path)


def _import(module_name: str, path: str) -> Any | None:
    """Import a generated module from ``path``; None if it is damaged."""
    import importlib.util

    location = importlib.util.spec_from_file_location(module_name, path)
    if location is None or location.loader is None:
        return None
    module = importlib.util.module_from_spec(location)
    sys.modules[module_name] = module
    try:
        location.loader.exec_module(module)
        return module.ffi
    except Exception:  # a truncated or foreign file: regenerate, or go in-line
        del sys.modules[module_name]
        return None


def _generate(spec: FfiSpec, path: str) -> None:
    """Write the out-of-line module for ``spec`` to ``path`` atomically.

    Not :func:`vmm.core.usercache.write_private`: cffi writes the file itself, and
    this also runs as a script (:func:`write_modules`) where vmm isn't importable.
    """
    import tempfile

    directory = os.path.dirname(path)
    os.makedirs(os.path.dirname(directory), mode=0o700, exist_ok=True)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    handle, scratch = tempfile.mkstemp(dir=directory, prefix=f".{spec.module_name}.", suffix=".tmp")
    os.close(handle)
    try:
        _builder(spec).emit_python_code(scratch)
        os.replace(scratch, path)
    except BaseException:
        try:
            os.unlink(scratch)
        except OSError:
            pass
        raise


def _builder(spec: FfiSpec) -> Any:
    """An in-line FFI for ``spec`` that can also emit its out-of-line module."""
    import cffi

    ffi = cffi.FFI()
    _declare(ffi, spec)
    ffi.set_source(spec.module_name, None, compiler_verbose=False)  # quiet emit
    return ffi


def _declare(ffi: Any, spec: FfiSpec) -> None:
    """Parse ``spec``'s declarations into ``ffi``, its included ones first."""
    if spec.include is not None:
        _declare(ffi, spec.include)
    ffi.cdef(spec.cdef)
    if spec.packed:
        ffi.cdef(spec.packed, packed=True)


def write_modules(directory: str, declarations: list[dict[str, str]]) -> list[str]:
    """Generate into ``directory`` the module of each FFI in ``declarations`` (from
    :meth:`FfiSpec.declaration`, an included FFI before its includers), keyed for
    this interpreter's cffi; return the modules' file names."""
    specs: dict[str, FfiSpec] = {}
    for entry in declarations:
        include = specs[entry["include"]] if entry["include"] else None
        spec = specs[entry["name"]] = _spec(entry["name"], entry["cdef"], entry["packed"], include)
        _generate(spec, os.path.join(directory, spec.module_name + ".py"))
    return [spec.module_name + ".py" for spec in specs.values()]


if __name__ == "__main__":
    import json

    with open(sys.argv[2]) as listing:
        for written in write_modules(sys.argv[1], json.load(listing)):
            print(written)
