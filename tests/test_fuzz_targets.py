"""The fuzz targets (``python -m fuzz``) still run: a short smoke run of each in
one process without atheris, and one target briefly under atheris itself. The long
runs are not part of the tests (docs/reliability.md records them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from vmm.core.testing import skip_or_fail

REPO = Path(__file__).resolve().parents[1]


def fuzz(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fuzz", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_every_target_survives_a_smoke_run():
    from fuzz import MODULES

    result = fuzz("--smoke", "150")
    assert result.returncode == 0, result.stderr[-3000:]
    done = {line.split(":")[0] for line in result.stdout.splitlines()
            if line.endswith("no finding")}
    assert done == set(MODULES)


def test_a_target_runs_under_atheris(tmp_path):
    try:
        import atheris  # noqa: F401
    except ImportError:
        skip_or_fail("atheris is not installed (make installs it with the fuzz extra)")
    result = fuzz("virtio-rng", "--runs", "300", "--artifacts", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done 300 runs" in result.stderr and "cov:" in result.stderr
    assert list(tmp_path.iterdir()) == []  # no crash artifact
