"""vmm installs one top-level package, ``vmm``, and nothing imports the repository
folders under their own names (that would load a second copy of every module)."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import vmm

REPO = Path(__file__).resolve().parents[2]
#: An import of a repository folder as a top-level name instead of through ``vmm``.
OLD_NAME = re.compile(r"^\s*(from|import)\s+(vmmcore|plugins|hookspecs)\b", re.M)
SOURCE_DIRS = ("vmmcore", "plugins", "tests", "benchmarks", "examples")


def test_the_package_is_the_design_cards_folders() -> None:
    package = Path(vmm.__file__).parent
    assert (package / "core").resolve() == REPO / "vmmcore"
    assert (package / "plugins").resolve() == REPO / "plugins"
    assert (package / "hookspecs.py").resolve() == REPO / "hookspecs.py"


def test_no_source_imports_a_folder_as_a_top_level_name() -> None:
    files = [REPO / "hookspecs.py"] + [
        path for directory in SOURCE_DIRS for path in (REPO / directory).rglob("*.py")]
    offenders = [f"{path.relative_to(REPO)}: {match.group(0).strip()}"
                 for path in files for match in OLD_NAME.finditer(path.read_text())]
    assert offenders == []


@pytest.mark.install
def test_the_wheel_holds_one_top_level_package(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--wheel-dir", str(tmp_path), str(REPO)], check=True, timeout=300)
    (wheel,) = tmp_path.glob("vmm-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if ".dist-info/" not in name}
    assert top_level == {"vmm"}
    for expected in ("vmm/hookspecs.py", "vmm/core/cli/__init__.py", "vmm/plugins/x86/__init__.py",
                     "vmm/plugins/arm64_realm/__init__.py", "vmm/plugins/x86/guests/builtin.bin"):
        assert expected in names
