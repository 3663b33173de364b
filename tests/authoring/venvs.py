"""A fresh virtual environment with an example plugin installed, for the authoring tests.

The environment sees the vmm under test, its dependencies and pytest through the
site-packages of the python running these tests (the project's .venv), added by a
.pth file; a venv that inherits the system's site-packages would instead show
whatever this machine has installed system-wide. pip installs the example from a copy, so no
build files land in the repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest

from vmm.core.testing import skip_or_fail


@dataclass
class Venv:
    """A virtual environment and the copy of the example installed in it."""

    path: Path
    example: Path

    def run(self, *argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        """Run ``argv`` with the environment's python first on PATH."""
        env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
        env["PATH"] = f"{self.path / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(self.path)
        return subprocess.run(list(argv), capture_output=True, text=True, cwd=cwd or self.example,
                              env=env, timeout=600)

    def vmm(self, *argv: str) -> subprocess.CompletedProcess:
        """The ``vmm`` program as the environment's python runs it."""
        return self.run("python", "-m", "vmm", *argv)

    def listed_hooks(self, plugin: str, arch: str) -> list[str]:
        """What ``vmm plugins --arch ARCH`` lists after the line ``plugin`` (its hooks
        and the plugins after it); fails the test when ``plugin`` is not listed."""
        listing = self.vmm("plugins", "--arch", arch)
        assert listing.returncode == 0, listing.stderr
        lines = listing.stdout.splitlines()
        assert plugin in lines, listing.stdout
        return [line.strip() for line in lines[lines.index(plugin) + 1:]]


def example_venv(base: Path, example: Path) -> Venv:
    """A virtual environment under ``base`` where pip installed a copy of ``example``."""
    copy = base / example.name
    shutil.copytree(example, copy, ignore=shutil.ignore_patterns(
        "build", "*.egg-info", "__pycache__", ".benchmarks", ".pytest_cache"))
    venv = Venv(base / "venv", copy)
    subprocess.run([sys.executable, "-m", "venv", str(venv.path)], check=True, timeout=120)
    paths = sysconfig.get_paths()
    site_dirs = sorted({paths["purelib"], paths["platlib"]})
    venv_site = Path(sysconfig.get_path("purelib", "venv",
                                        vars={"base": str(venv.path), "platbase": str(venv.path)}))
    # addsitedir, not a plain path line: it also reads the .pth files there (the
    # editable install's path entry)
    (venv_site / "vmm_under_test.pth").write_text(
        "import site; " + "; ".join(f"site.addsitedir({d!r})" for d in site_dirs) + "\n")
    install = venv.run("pip", "install", "--no-deps", str(copy))
    if install.returncode != 0:
        last = (install.stderr.strip().splitlines() or ["no output"])[-1]
        skip_or_fail(f"pip could not build the example here: {last}")
    return venv


def example_venv_fixture(example: Path):
    """A module-scoped fixture giving :func:`example_venv` of ``example`` (one per module)."""

    @pytest.fixture(scope="module")
    def venv_with(tmp_path_factory) -> Venv:
        return example_venv(tmp_path_factory.mktemp(example.name), example)

    return venv_with
