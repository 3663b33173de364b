"""A write the guest saw completed is in the image after vmm exits, however it exits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("mode, code", [("poweroff", 0), ("sigterm", 128 + 15),
                                        ("sigint", 128 + 2), ("sighup", 128 + 1)])
def test_completed_write_survives_exit(disk_image, mode, code):
    process = subprocess.run(
        [sys.executable, "-m", "tests.virtio.exit_guest", mode, str(disk_image)],
        cwd=REPO, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert "GUEST-SAW-COMPLETION" in process.stdout, process.stderr
    assert process.returncode == code, process.stderr
    assert "TORN-DOWN" in process.stdout  # the exit stages ran: disks fsynced and closed
    assert "Traceback" not in process.stderr
    assert disk_image.read_bytes()[512:1024] == b"D" * 512


FAILING_FSYNC = """
import errno, os, sys
def fsync(fd):
    raise OSError(errno.EIO, os.strerror(errno.EIO))
os.fsync = fsync
from vmm.core.cli import main
main()  # as the vmm program: sandboxed, as every run that boots a guest
"""


def test_a_failed_fsync_at_exit_is_one_line_and_exit_1(require_kvm, disk_image):
    """Before: a traceback. Now the user learns the disk may be incomplete."""
    process = subprocess.run(
        [sys.executable, "-c", FAILING_FSYNC, "run", "--arch", "x86", "--sandbox", "-d",
         str(disk_image)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert process.returncode == 1, process.stderr
    assert process.stderr.splitlines() == [
        f"vmm: error: disk {str(disk_image)!r} may be incomplete: Input/output error (EIO)"]
