"""The project archive carries a generated cffi module for every FFI of this vmm,
keyed as L1's vmm looks them up and precompiled (no emulated host needed: a
stand-in emulator runs this machine's Python and cffi as "the target's")."""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from pathlib import Path

import pytest

from vmm.core.kvm import ffiload
from vmm.core.nested import cache, ffimodules, pydeps
from vmm.core.nested.errors import PackageError
from vmm.core.nested.hostimage import build_project_archive
from vmm.core.nested.pycompile import TargetPython, host_python_version

from .test_nested_pycompile import fake_emulator
from .test_nested_units import read_cpio

MODULE_FILE = re.compile(rf"{ffiload.MODULE_PREFIX}(\w+)_[0-9a-f]{{20}}\.py")


def ffi_names_in_sources() -> list[str]:
    """The name given to every ``load_ffi("name", ...)`` call in vmm's sources."""
    names = []
    for path in cache.project_source_files():
        if path.suffix == ".py" and path.name != "ffiload.py":
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and ffimodules.LOADER in (
                        getattr(node.func, "id", None), getattr(node.func, "attr", None)):
                    names.append(node.args[0].value)
    return sorted(names)


def host_target(tmp_path: Path, body: str = f'exec {sys.executable} "$@"') -> TargetPython:
    return TargetPython(fake_emulator(tmp_path, body), tmp_path / "sysroot", host_python_version())


def test_project_archive_holds_a_generated_module_for_each_ffi(tmp_path: Path) -> None:
    archive = tmp_path / "project.cpio"
    target = host_target(tmp_path)
    build_project_archive(archive, host_python_version(), lambda: target)
    directory = str(ffimodules.L1_DIRECTORY).lstrip("/")
    entries = read_cpio(archive.read_bytes())
    modules = {Path(name).name: data for name, (_, data) in entries.items()
               if str(Path(name).parent) == directory and name.endswith(".py")}

    names = sorted(MODULE_FILE.fullmatch(name).group(1) for name in modules)  # type: ignore[union-attr]
    assert names == ffi_names_in_sources()
    assert {"kvm", "x86", "arm64", "arm64_realm_rfc_v1", "arm64_realm_v7", "riscv", "virtio",
            "libc_ioctl"} <= set(names)
    for name in modules:
        pyc = importlib.util.cache_from_source(f"{directory}/{name}")
        assert entries[pyc][1][:4] == importlib.util.MAGIC_NUMBER

    # The keys are those this machine's load_ffi uses (same cffi), so L1's match its own.
    from vmm.plugins.arm64_realm import memory_lock
    from vmm.plugins.x86 import uapi as x86_uapi
    loaded = {spec.module_name + ".py" for spec in ffiload.declared_ffis()}
    assert {name for name in modules if "x86" in name or "mlock2" in name} <= loaded
    generated: dict = {}
    exec(modules[next(n for n in modules if n.startswith(f"{ffiload.MODULE_PREFIX}x86_"))], generated)
    for struct in ("struct kvm_run", "struct kvm_regs", "struct boot_params"):
        assert generated["ffi"].sizeof(struct) == x86_uapi.ffi.sizeof(struct)
    assert memory_lock.ffi.typeof("int(*)(const void *, size_t, unsigned int)")


def test_a_target_python_that_fails_is_a_package_error(tmp_path: Path) -> None:
    site = tmp_path / "root" / "site"
    pydeps.install_project(site)
    with pytest.raises(PackageError, match="cannot generate the cffi modules.*boom"):
        ffimodules.generate(tmp_path / "root", site, host_target(tmp_path, "echo boom >&2; exit 3"))
