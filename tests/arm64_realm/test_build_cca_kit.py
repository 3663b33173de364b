"""scripts/build-cca-kit: the parts that can run without the git hosts (CI has none)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from cca_guest import cca_kit

from vmm.plugins.arm64_realm.kit import built_kit_dir

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build-cca-kit"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("build_cca_kit", str(SCRIPT))
    spec = importlib.util.spec_from_loader("build_cca_kit", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_cca_kit"] = module
    try:
        loader.exec_module(module)
        yield module
    finally:
        del sys.modules["build_cca_kit"]


def test_help_names_where_vmm_looks_for_the_kit() -> None:
    result = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert str(built_kit_dir()) in result.stdout.replace("\n", "")


def test_flash_image_is_bl1_then_the_fip_at_256_kib(script: ModuleType, tmp_path: Path) -> None:
    host = cca_kit() / "host"
    flash = tmp_path / "flash.bin"
    script.write_flash(host / "bl1.bin", host / "fip.bin", flash)
    assert flash.read_bytes() == (host / "flash.bin").read_bytes()
