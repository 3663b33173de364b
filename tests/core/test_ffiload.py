"""load_ffi: FFIs generated once into the user's cache, imported without pycparser."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import cffi
import pytest

from vmm.core.kvm import ffiload
from vmm.core.kvm.ffiload import load_ffi
from vmm.core.testing import skip_or_fail

BASE = """
struct base { uint32_t a; struct { uint8_t x; uint64_t y; } inner; };
"""
ARCH = """
struct arch { uint16_t b; struct { uint8_t p; uint32_t q; } nested; struct base base; };
"""
PACKED = "struct packed_one { uint8_t c; uint32_t d; };"


@pytest.fixture(autouse=True)
def _forget_test_modules() -> Iterator[None]:
    """Each test starts with none of its FFIs imported (they are cached per process)."""
    yield
    for name in [name for name in sys.modules if name.startswith("_vmm_ffi_t_")]:
        del sys.modules[name]


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path


def _cache_files(home: Path) -> list[str]:
    directory = home / "vmm" / "cffi"
    return sorted(p.name for p in directory.iterdir() if p.is_file()) if directory.exists() else []


def _inline_reference() -> cffi.FFI:
    ffi = cffi.FFI()
    ffi.cdef(BASE)
    ffi.cdef(ARCH)
    ffi.cdef(PACKED, packed=True)
    return ffi


def test_generated_ffi_lays_out_like_an_inline_one(cache_home: Path) -> None:
    base = load_ffi("t_base", BASE)
    arch = load_ffi("t_arch", ARCH, packed=PACKED, include=base)
    reference = _inline_reference()
    assert not isinstance(arch, cffi.FFI)  # the generated, out-of-line kind
    for ctype in ("struct base", "struct arch", "struct packed_one"):
        assert arch.sizeof(ctype) == reference.sizeof(ctype)
    assert arch.sizeof("struct packed_one") == 5
    assert arch.offsetof("struct arch", "nested", "q") == reference.offsetof("struct arch", "nested", "q")
    assert arch.offsetof("struct arch", "base", "inner", "y") == reference.offsetof(
        "struct arch", "base", "inner", "y")
    # The includer's anonymous structs don't collide with the included FFI's.
    assert arch.sizeof(arch.typeof("struct arch").fields[1][1].type) == 8
    assert [name for name, _ in arch.typeof("struct base").fields] == ["a", "inner"]


def test_cdata_of_generated_ffis_work_as_before(cache_home: Path) -> None:
    base = load_ffi("t_base", BASE)
    arch = load_ffi("t_arch", ARCH, include=base)
    value = arch.new("struct arch *", {"b": 7})
    value.base.inner.y = 1 << 40
    raw = bytearray(arch.sizeof("struct arch"))
    view = arch.cast("struct arch *", arch.from_buffer(raw))
    view.nested.q = 0x01020304
    assert value.b == 7 and value.base.inner.y == 1 << 40
    assert raw[arch.offsetof("struct arch", "nested", "q")] == 0x04
    assert isinstance(value, base.CData)
    assert int(base.cast("uintptr_t", value)) != 0


def test_one_module_per_ffi_named_after_its_declarations(cache_home: Path) -> None:
    load_ffi("t_base", BASE)
    load_ffi("t_base", BASE + "struct extra { int z; };")
    files = _cache_files(cache_home)
    assert len(files) == 2
    assert all(name.startswith("_vmm_ffi_t_base_") and name.endswith(".py") for name in files)


def test_key_covers_declarations_packing_include_and_cffi(monkeypatch: pytest.MonkeyPatch) -> None:
    key = ffiload._key
    assert key("a", BASE, "", None) == key("a", BASE, "", None)
    different = {
        key("a", BASE, "", None),
        key("b", BASE, "", None),
        key("a", BASE + " ", "", None),
        key("a", "", BASE, None),
    }
    assert len(different) == 4
    spec = ffiload.FfiSpec("i", "", "", None, "k1")
    assert key("a", BASE, "", spec) != key("a", BASE, "", None)
    before = key("a", BASE, "", None)
    monkeypatch.setattr(ffiload._cffi_backend, "__version__", "0.0.0-other")
    assert key("a", BASE, "", None) != before


def test_an_unwritable_cache_falls_back_to_inline(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    ffi = load_ffi("t_fallback", BASE, packed=PACKED)
    assert isinstance(ffi, cffi.FFI)
    assert ffi.sizeof("struct packed_one") == 5
    assert ffi.sizeof("struct base") == _inline_reference().sizeof("struct base")
    assert sorted(os.listdir(tmp_path)) == ["not-a-directory"]


def test_a_damaged_cache_file_is_regenerated(cache_home: Path) -> None:
    load_ffi("t_damaged", BASE)
    (path,) = (cache_home / "vmm" / "cffi").glob("_vmm_ffi_t_damaged_*.py")
    sys.modules.pop(path.stem)
    path.write_text("ffi = (\n")  # truncated
    ffi = load_ffi("t_damaged", BASE)
    assert ffi.sizeof("struct base") == _inline_reference().sizeof("struct base")
    assert path.read_text().startswith("# auto-generated")


def test_relative_xdg_cache_home_is_ignored(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert ffiload.cache_dir() == str(tmp_path / ".cache" / "vmm" / "cffi")


def test_only_ffis_from_load_ffi_can_be_included(cache_home: Path) -> None:
    with pytest.raises(TypeError, match="load_ffi"):
        load_ffi("t_bad", ARCH, include=cffi.FFI())


_CHILD = textwrap.dedent("""
    import sys
    from vmm.core.kvm.ffiload import load_ffi
    base = load_ffi("t_base", {base!r})
    arch = load_ffi("t_arch", {arch!r}, packed={packed!r}, include=base)
    assert arch.sizeof("struct packed_one") == 5
    print("pycparser" in sys.modules)
""")


def _child(home: Path) -> subprocess.Popen[str]:
    code = _CHILD.format(base=BASE, arch=ARCH, packed=PACKED)
    return subprocess.Popen([sys.executable, "-c", code], text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "XDG_CACHE_HOME": str(home)})


def test_a_warm_cache_loads_without_parsing_c(tmp_path: Path) -> None:
    first = _child(tmp_path).communicate()
    second = _child(tmp_path).communicate()
    assert first == ("True\n", "")  # cold: parsed once, to generate
    assert second == ("False\n", "")


def test_processes_starting_together_on_a_cold_cache(tmp_path: Path) -> None:
    children = [_child(tmp_path) for _ in range(6)]
    outputs = [child.communicate() for child in children]
    assert [child.returncode for child in children] == [0] * 6, outputs
    files = _cache_files(tmp_path)
    assert len(files) == 2 and not any(name.endswith(".tmp") for name in files), files


def test_a_missing_home_is_not_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "nonexistent"))
    ffi = load_ffi("t_homeless", BASE)
    assert isinstance(ffi, cffi.FFI)  # in-line
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------- who owns the cache

FOREIGN = "import builtins\nbuiltins.vmm_foreign_module_ran = True\nffi = None\n"


def _planted(cache_home: Path, name: str) -> Path:
    """The cache file ``load_ffi(name, BASE)`` would import, holding foreign code."""
    load_ffi(name, BASE)
    (path,) = (cache_home / "vmm" / "cffi").glob(f"_vmm_ffi_{name}_*.py")
    sys.modules.pop(path.stem)
    path.write_text(FOREIGN)
    # the bytecode of that first, legitimate import (where Python writes bytecode)
    shutil.rmtree(path.parent / "__pycache__", ignore_errors=True)
    return path


@pytest.fixture
def foreign_flag() -> Iterator[None]:
    import builtins

    yield
    ran = getattr(builtins, "vmm_foreign_module_ran", False)
    if ran:
        del builtins.vmm_foreign_module_ran
    assert not ran, "a cached module nobody should trust was executed"


@pytest.mark.parametrize("owner, mode", [("other user", 0o600), ("this user", 0o666),
                                         ("this user", 0o620)])
def test_a_module_someone_else_could_have_written_is_regenerated(cache_home, foreign_flag,
                                                                 owner, mode) -> None:
    path = _planted(cache_home, "t_foreign")
    path.chmod(mode)
    if owner == "other user":
        if os.geteuid() != 0:
            skip_or_fail("only root can give a file to another user")
        os.chown(path, 4242, 4242)
    ffi = load_ffi("t_foreign", BASE)
    assert ffi.sizeof("struct base") == _inline_reference().sizeof("struct base")
    info = path.stat()
    assert info.st_uid == os.geteuid() and not info.st_mode & 0o022
    assert path.read_text().startswith("# auto-generated")


@pytest.mark.parametrize("mode", [0o777, 0o775])
def test_a_cache_directory_others_can_write_is_not_used(cache_home, foreign_flag, mode) -> None:
    path = _planted(cache_home, "t_opendir")
    path.parent.chmod(mode)
    ffi = load_ffi("t_opendir", BASE)
    assert isinstance(ffi, cffi.FFI)  # in-line: the directory is not trusted
    assert path.read_text() == FOREIGN  # and nothing was written into it
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_the_cache_directory_is_private(cache_home) -> None:
    load_ffi("t_private", BASE)
    assert (cache_home / "vmm" / "cffi").stat().st_mode & 0o777 == 0o700
