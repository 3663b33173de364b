"""Precompiled .pyc files for the emulated host: unchecked-hash, named as L1 sees
them, and written by the target's interpreter when this machine's Python differs
(no emulated host needed: a stand-in emulator runs this machine's Python)."""

from __future__ import annotations

import importlib.util
import marshal
import sys
from pathlib import Path

import pytest

from vmm.core.nested.errors import PackageError
from vmm.core.nested.pycompile import TargetPython, host_python_version, precompile
from vmm.core.nested.qemu import Qemu

UNCHECKED_HASH_FLAGS = 0b01


def make_tree(root: Path) -> Path:
    """A module under ``root/usr/lib/pkg`` with a stale timestamp .pyc beside it."""
    package = root / "usr" / "lib" / "pkg"
    package.mkdir(parents=True)
    (package / "mod.py").write_text("VALUE = 42\n")
    stale = Path(importlib.util.cache_from_source(str(package / "mod.py")))
    stale.parent.mkdir()
    stale.write_bytes(importlib.util.MAGIC_NUMBER + b"\0" * 12)
    return package


def read_pyc(package: Path) -> tuple[int, str]:
    """The flags and the code object's file name of ``pkg/mod.py``'s .pyc."""
    data = Path(importlib.util.cache_from_source(str(package / "mod.py"))).read_bytes()
    assert data[:4] == importlib.util.MAGIC_NUMBER
    return int.from_bytes(data[4:8], "little"), marshal.loads(data[16:]).co_filename


def fake_emulator(tmp_path: Path, body: str) -> Qemu:
    """A stand-in for qemu-user: drops ``-L SYSROOT PYTHON`` and runs ``body``."""
    script = tmp_path / "qemu-fake"
    script.write_text(f"#!/bin/sh\nshift 3\n{body}\n")
    script.chmod(0o755)
    return Qemu(script)


def test_same_version_is_compiled_here(tmp_path: Path) -> None:
    package = make_tree(tmp_path / "root")
    precompile(tmp_path / "root", package, host_python_version(),
               target=lambda: pytest.fail("the target's Python was not needed"))
    assert read_pyc(package) == (UNCHECKED_HASH_FLAGS, "/usr/lib/pkg/mod.py")


def test_another_version_is_compiled_by_the_target_python(tmp_path: Path) -> None:
    package = make_tree(tmp_path / "root")
    target = TargetPython(fake_emulator(tmp_path, f'exec {sys.executable} "$@"'),
                          tmp_path / "sysroot", "9.99")
    precompile(tmp_path / "root", package, "9.99", target=lambda: target)
    assert read_pyc(package) == (UNCHECKED_HASH_FLAGS, "/usr/lib/pkg/mod.py")


def test_another_version_without_a_target_python_compiles_nothing(tmp_path: Path) -> None:
    package = make_tree(tmp_path / "root")
    stale = Path(importlib.util.cache_from_source(str(package / "mod.py")))
    before = stale.read_bytes()
    precompile(tmp_path / "root", package, "9.99")
    assert stale.read_bytes() == before


def test_an_emulator_that_cannot_run_is_a_one_line_error(tmp_path: Path) -> None:
    package = make_tree(tmp_path / "root")
    target = TargetPython(fake_emulator(tmp_path, "echo 'Could not open ld.so' >&2; exit 255"),
                          tmp_path / "sysroot", "9.99")
    with pytest.raises(PackageError, match="cannot run the target's Python 9.99 under "
                       "qemu-fake: Could not open ld.so"):
        precompile(tmp_path / "root", package, "9.99", target=lambda: target)


def test_a_missing_emulator_is_a_one_line_error(tmp_path: Path) -> None:
    package = make_tree(tmp_path / "root")
    target = TargetPython(Qemu(tmp_path / "qemu-absent"), tmp_path / "sysroot", "9.99")
    with pytest.raises(PackageError, match="under qemu-absent: No such file or directory"):
        precompile(tmp_path / "root", package, "9.99", target=lambda: target)
