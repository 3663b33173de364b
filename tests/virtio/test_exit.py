"""A write the guest saw completed is in the image after vmm exits, however it exits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("mode, code", [("poweroff", 0), ("sigterm", 128 + 15),
                                        ("sigint", 128 + 2)])
def test_completed_write_survives_exit(disk_image, mode, code):
    process = subprocess.run(
        [sys.executable, "-m", "tests.virtio.exit_guest", mode, str(disk_image)],
        cwd=REPO, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert "GUEST-SAW-COMPLETION" in process.stdout, process.stderr
    assert process.returncode == code, process.stderr
    assert "Traceback" not in process.stderr
    assert disk_image.read_bytes()[512:1024] == b"D" * 512
