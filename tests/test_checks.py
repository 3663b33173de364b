"""The static checks run with the tests: ruff (pyproject's [tool.ruff]) and mypy
(pyproject's [tool.mypy]: strict on vmm.core and vmm.hookspecs, the default checks on
the plugins). One test each, so a finding is one failure line in pytest's summary
with the checker's own report in its output.

Fix a ruff finding with ``ruff check --fix .`` or by hand; run mypy as ``mypy``
from the repository (README.md, "Tests").
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=REPO, capture_output=True,
                          text=True, timeout=600)


def test_ruff_finds_nothing() -> None:
    result = _run("ruff", "check", "--no-cache", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing() -> None:
    result = _run("mypy", "--no-incremental", "--cache-dir", "/dev/null")
    assert result.returncode == 0, result.stdout + result.stderr
