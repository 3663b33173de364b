"""Real arm64 KVM inside the emulated host (``vmm nested --arch arm64``): the built-in
guest, and Debian's arm64 kernel to an initramfs marker with 1 and 2 vCPUs, powered
off through PSCI (exit 0)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from boot.l2_images import L2_MARKER, l2_initramfs

from vmm.core.testing import skip_or_fail
from vmm.plugins.arm64.guest import GREETING

pytestmark = pytest.mark.boot

#: Shell text the L2 /init appends to its marker: how many CPUs Linux brought up.
CPU_COUNT = " cpus=$(/bin/busybox grep -c ^processor /proc/cpuinfo)"
TIMEOUT = 600


@pytest.fixture(scope="module")
def nested_ready() -> None:
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            skip_or_fail(f"vmm nested needs {tool}")


def nested(*args: str) -> subprocess.CompletedProcess[str]:
    """``vmm nested --arch arm64 -- ARGS``."""
    command = [sys.executable, "-m", "vmm", "nested", "--arch", "arm64",
               "--timeout", str(TIMEOUT), "--", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT + 900,
                          stdin=subprocess.DEVNULL)


def test_builtin_guest_on_real_kvm(nested_ready):
    result = nested("run", "--arch", "arm64")
    assert GREETING.decode().strip() in result.stdout, result.stdout + result.stderr
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("cpus", [1, 2])
def test_debian_kernel_boots_to_the_initramfs_and_powers_off(nested_ready, tmp_path, cpus):
    from vmm.core.nested.hostimage import prepare_host
    from vmm.core.nested.run import emulated_host_for

    kernel = prepare_host(emulated_host_for("arm64")).kernel
    initramfs = l2_initramfs("arm64", tmp_path / "initramfs.cpio", report=CPU_COUNT)
    result = nested("run", "--arch", "arm64", "-c", str(cpus), "-k", str(kernel),
                    "-i", str(initramfs), "-p", "console=ttyS0 quiet")
    assert f"{L2_MARKER} cpus={cpus}" in result.stdout, result.stdout[-3000:] + result.stderr
    assert result.returncode == 0, result.stderr
