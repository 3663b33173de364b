"""``vmm nested --rme`` and ``--cca-kit``: which emulated host the realm layer picks,
and where it finds the Arm CCA kit (no emulated host is booted here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vmm.core.errors import ConfigError
from vmm.core.nested.hosts import find_emulated_host
from vmm.plugins.arm64_realm import kit


def make_kit(directory: Path) -> Path:
    (directory / "host").mkdir(parents=True)
    (directory / "host" / "flash.bin").write_bytes(b"firmware")
    return directory


@pytest.fixture
def no_default_kits(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Neither the built kit nor a checkout's ../shared/cca exists."""
    monkeypatch.delenv(kit.KIT_ENV, raising=False)
    monkeypatch.setattr(kit, "built_kit_dir", lambda: tmp_path / "built")
    monkeypatch.setattr(kit, "checkout_kit_dir", lambda: tmp_path / "checkout")


def test_rme_turns_the_arm64_host_into_the_kits_firmware_host(tmp_path: Path) -> None:
    directory = make_kit(tmp_path / "kit")
    plain = find_emulated_host("arm64", {})
    host = find_emulated_host("arm64", {"rme": True, "cca_kit": str(directory)})
    assert plain is not None and plain.firmware_boot is None
    assert host is not None and host.firmware_boot is not None
    assert host.firmware_boot.firmware == directory / "host" / "flash.bin"
    assert "x-rme=on" in " ".join(host.firmware_boot.qemu_machine_args)
    # the same Debian Python and vmm: the same cache keys as the plain host
    assert repr(host) == repr(plain)


@pytest.mark.parametrize("arch, options, message", [
    ("x86", {"rme": True}, "--rme needs --arch arm64"),
    ("arm64", {"cca_kit": "/somewhere"}, "--cca-kit valid only with --rme"),
])
def test_rme_options_that_cannot_work_are_refused(arch: str, options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        find_emulated_host(arch, options)


def test_the_kit_comes_from_the_option_then_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_default_kits: None) -> None:
    given, from_env = make_kit(tmp_path / "given"), make_kit(tmp_path / "env")
    monkeypatch.setenv(kit.KIT_ENV, str(from_env))
    assert kit.find_kit(str(given)) == given
    assert kit.find_kit() == from_env
    monkeypatch.setenv(kit.KIT_ENV, str(tmp_path))
    with pytest.raises(ConfigError, match=f"{kit.KIT_ENV} {tmp_path}: not an Arm CCA host kit"):
        kit.find_kit()


def test_the_built_kit_wins_over_the_checkouts(tmp_path: Path, no_default_kits: None) -> None:
    checkout = make_kit(tmp_path / "checkout")
    assert kit.find_kit() == checkout
    built = make_kit(tmp_path / "built")
    assert kit.find_kit() == built


def test_without_a_kit_the_error_says_how_to_get_one(tmp_path: Path, no_default_kits: None) -> None:
    with pytest.raises(ConfigError, match=r"no Arm CCA host kit: build one with "
                                          r"scripts/build-cca-kit .* or give --cca-kit DIR"):
        kit.find_kit()


def test_a_bad_kit_is_a_one_line_error_before_anything_is_built(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "vmm", "nested", "--arch", "arm64", "--rme", "--cca-kit",
         str(tmp_path), "--", "--version"], capture_output=True, text=True,
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}, timeout=60)
    assert result.returncode == 1
    assert result.stderr == f"vmm: error: --cca-kit {tmp_path}: not an Arm CCA host kit " \
                            "(no host/flash.bin)\n"
    # nothing built or fetched; only start-up's own caches may be kept (the hook tables
    # of vmm.core.startupcache, derived by importing the plugins' modules, whose FFIs
    # go to ffiload's cache)
    left = {path.relative_to(tmp_path / "cache").parts[:2]
            for path in (tmp_path / "cache").rglob("*") if path.is_file()}
    assert left <= {("vmm", "startup"), ("vmm", "cffi")}, left
