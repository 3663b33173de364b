"""A dry run touches nothing on the host: disks read-only and unlocked, no TAP.

Before: ``--dry-run`` opened disks read-write and created a real TAP interface.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vmm.core.errors import ConfigError
from vmm.core.filelock import lock_file
from vmm.plugins.virtio import tap
from vmm.plugins.virtio.wiring import KEY

TAP_NAME = "vmmdryrun0"


def test_a_dry_run_opens_disks_read_only_and_takes_no_lock(model_vm, disk_image):
    vm = model_vm("arm64", disk=[str(disk_image)]).vm
    (disk,) = vm.stash[KEY].devices
    assert fcntl.fcntl(disk.fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY
    writer = os.open(disk_image, os.O_RDWR)
    try:
        lock_file(writer, str(disk_image), "disk image", shared=False)  # nothing held
    finally:
        os.close(writer)
    assert any("opened read-only, its lock only checked (dry run)" in line
               for line in vm.report)


def test_a_dry_run_reports_a_disk_a_real_run_could_not_lock(model_vm, disk_image):
    holder = os.open(disk_image, os.O_RDWR)
    try:
        lock_file(holder, str(disk_image), "disk image", shared=False)
        with pytest.raises(ConfigError, match=f"is in use by process {os.getpid()}"):
            model_vm("arm64", disk=[str(disk_image)])
    finally:
        os.close(holder)


def test_a_dry_run_opens_no_tap(model_vm, monkeypatch):
    def refuse(name):
        raise AssertionError(f"a dry run opened TAP {name}")

    monkeypatch.setattr(tap, "open_tap", refuse)
    vm = model_vm("arm64", network=[f"mode=tap,tapif={TAP_NAME}"]).vm
    assert not Path(f"/sys/class/net/{TAP_NAME}").exists()
    assert f"virtio-net: TAP interface {TAP_NAME} not opened (dry run)" in vm.report


def test_vmm_run_dry_run_leaves_the_disk_alone(disk_image, tmp_path):
    """The whole command: the image's bytes and times stay as they were."""
    before = os.stat(disk_image)
    result = subprocess.run(
        [sys.executable, "-m", "vmm", "run", "--arch", "x86", "--dry-run", "-d",
         str(disk_image), "-n", f"mode=tap,tapif={TAP_NAME}"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert f"TAP interface {TAP_NAME} not opened (dry run)" in result.stdout
    after = os.stat(disk_image)
    assert (after.st_mtime_ns, after.st_size) == (before.st_mtime_ns, before.st_size)
