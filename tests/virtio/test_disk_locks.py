"""Disk images are locked while in use (OFD locks, shared for ,ro, else exclusive)
and the same file given twice is refused whatever its spelling.

Before: ``-d img -d ./img`` passed, and two vmm processes on one image both wrote it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from vmm.core.config import Config
from vmm.core.errors import ConfigError
from vmm.core.options import collect_option_groups
from vmm.core.plugins import build_manager
from vmm.plugins.virtio.blk import BlockDevice, DiskSpec
from vmm.plugins.virtio.wiring import validate

HOLDER = textwrap.dedent("""
    import fcntl, os, struct, sys
    fd = os.open(sys.argv[1], os.O_RDWR)
    kind = fcntl.F_WRLCK if sys.argv[2] == "write" else fcntl.F_RDLCK
    fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack("hhqqi4x", kind, 0, 0, 0, 0))
    print("locked", flush=True)
    sys.stdin.read()
""")


@pytest.fixture
def holder(disk_image):
    """``holder("write"|"read")``: another process holding an OFD lock on the image."""
    started = []

    def start(kind: str) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-c", HOLDER, str(disk_image), kind],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        started.append(process)
        assert process.stdout.readline() == "locked\n"
        return process

    yield start
    for process in started:
        process.communicate(input="", timeout=10)


@pytest.fixture
def devices():
    opened: list[BlockDevice] = []

    def open_disk(path, readonly: bool = False) -> BlockDevice:
        device = BlockDevice(DiskSpec(str(path), readonly))
        opened.append(device)
        return device

    yield open_disk
    for device in opened:
        device.close()


def test_a_writer_excludes_every_other_open(devices, disk_image):
    devices(disk_image)
    for readonly in (False, True):
        with pytest.raises(ConfigError) as refused:
            devices(disk_image, readonly)
        message = str(refused.value)
        assert f"disk image {str(disk_image)!r} is in use by process {os.getpid()}" in message
        assert "which is writing it; stop that process first" in message


def test_readers_share_and_exclude_a_writer(devices, disk_image):
    devices(disk_image, True)
    devices(disk_image, True)
    with pytest.raises(ConfigError, match="which is reading it; stop that process first, "
                                          "or add ,ro to share it read-only"):
        devices(disk_image)


def test_the_lock_goes_with_the_device(devices, disk_image):
    devices(disk_image).close()
    devices(disk_image)


def test_another_process_is_named(devices, holder, disk_image):
    process = holder("write")
    with pytest.raises(ConfigError) as refused:
        devices(disk_image, True)
    assert f"in use by process {process.pid} (python" in str(refused.value)


def test_a_second_vmm_can_not_write_a_disk_in_use(require_kvm, holder, disk_image):
    process = holder("read")
    before = disk_image.read_bytes()
    run = subprocess.run([sys.executable, "-m", "vmm", "run", "--arch", "x86", "-d",
                          str(disk_image)], capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        f"vmm: error: disk image {str(disk_image)!r} is in use by process {process.pid} "
        "(python), which is reading it; stop that process first, or add ,ro to share it "
        "read-only"]
    assert disk_image.read_bytes() == before


@pytest.mark.parametrize("spelling", ["dot", "link"])
def test_the_same_file_twice_is_refused_whatever_the_path(disk_image, spelling, monkeypatch):
    if spelling == "dot":
        monkeypatch.chdir(disk_image.parent)
        other = f"./{disk_image.name}"
    else:
        other = str(disk_image.parent / "hardlink.img")
        os.link(disk_image, other)
    config = Config(arch="arm64", given_options={"virtio": {"disk": [str(disk_image), f"{other},ro"]}})
    config.bind_options(collect_option_groups(build_manager("arm64")))
    with pytest.raises(ConfigError, match=f"disk image '{other}' is given twice "
                                          rf"\(also as '{disk_image}'\)"):
        validate(config, None)


def test_struct_flock_matches_the_c_library():
    from vmm.core.filelock import ffi
    from vmm.core.testing import skip_or_fail
    from vmm.core.testing.cheaders import compiler_values, layout_expressions, mismatches

    expected = layout_expressions(ffi, "struct flock")
    try:
        values = compiler_values(["fcntl.h"], expected)
    except RuntimeError as error:
        skip_or_fail(f"no C view of <fcntl.h>: {error}")
    assert mismatches(expected, values) == []
