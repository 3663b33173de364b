"""On this host's real KVM and network stack: ioeventfds, a TAP interface."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

from vmm.core.errors import ConfigError
from vmm.core.testing import skip_or_fail
from vmm.plugins.virtio.tap import VNET_HDR_SIZE, open_tap

REPO = Path(__file__).resolve().parents[2]


def test_x86_vm_with_virtio_pci_devices_runs_on_real_kvm(require_kvm, disk_image):
    """The built-in guest runs with virtio devices wired through the real KVM_IOEVENTFD,
    and vmm tears them down cleanly (disk untouched, exit 0)."""
    before = disk_image.read_bytes()
    process = subprocess.run(
        [sys.executable, "-m", "vmm", "run", "--arch", "x86", "-d", str(disk_image),
         "--rng", "--console", "virtio"],
        cwd=REPO, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert process.returncode == 0, process.stderr
    assert "error" not in process.stderr.lower()
    assert disk_image.read_bytes() == before


def test_tap_interface_carries_virtio_net_headers():
    """TUNSETIFF makes a TAP interface; frames written with a virtio-net header go out."""
    try:
        fd, name = open_tap("vmmtest%d")
    except ConfigError as error:
        skip_or_fail(f"no TAP device here: {error}")
    try:
        assert Path(f"/sys/class/net/{name}").is_dir()
        assert name.startswith("vmmtest")
        subprocess.run(["ip", "link", "set", name, "up"], check=False, capture_output=True)
        frame = bytes(VNET_HDR_SIZE) + b"\xff" * 6 + b"\x02" * 6 + b"\x88\xb5" + bytes(46)
        try:
            assert os.write(fd, frame) == len(frame)
        except OSError as error:  # the interface is down when `ip` is missing
            assert error.errno == errno.EIO
    finally:
        os.close(fd)
    assert not Path(f"/sys/class/net/{name}").exists()  # not persistent: gone with the fd
