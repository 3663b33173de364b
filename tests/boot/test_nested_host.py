"""The emulated KVM hosts themselves: boot, /dev/kvm, exit status, files, disks,
timeouts, interrupts, missing tools."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vmm.core.nested.initscript import KVM_READY

from .conftest import ARCHES, processes_mentioning, run_nested

pytestmark = [pytest.mark.boot, pytest.mark.usefixtures("emulated_host")]


@pytest.mark.parametrize("arch", ARCHES)
def test_inner_vmm_version_runs_on_a_host_with_kvm(tmp_path: Path, arch: str, show) -> None:
    run = run_nested(tmp_path, arch, "--version")
    assert run.returncode == 0, run.describe()
    assert run.stdout.strip() == "vmm 0.1.0", run.describe()
    assert KVM_READY in run.console_log.read_text(errors="replace"), run.describe()
    show(f"{arch}: vmm --version in L1: {run.reported_timings()}; wall {run.seconds:.1f} s")


@pytest.mark.parametrize("arch", ["x86", "arm64"])
def test_nonzero_exit_status_of_the_inner_vmm_is_relayed(tmp_path: Path, arch: str) -> None:
    run = run_nested(tmp_path, arch, "--no-such-option")
    assert run.returncode == 2, run.describe()
    assert "VMM-NESTED" not in run.stdout, run.describe()


@pytest.mark.parametrize("arch", ARCHES)
def test_files_are_forwarded_and_disk_writes_land_in_the_image(
    tmp_path: Path, arch: str, show
) -> None:
    """One boot per host checks forwarding, a writable and a read-only disk (whose
    argument keeps its ``,ro`` flag: the script strips it to reach the device), and a
    ``--share`` directory read and written in place at its own path."""
    payload = tmp_path / "payload.txt"
    payload.write_text(f"forwarded to {arch}\n")
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"\0" * (1 << 20))
    read_only = tmp_path / "ro.img"
    read_only.write_bytes(b"original" + b"\0" * 4088)
    shared = tmp_path / "shared dir"
    shared.mkdir()
    (shared / "in.txt").write_text("from this machine\n")
    script = ('cat "$3"; [ -c /dev/kvm ] && echo kvm-present; '
              'echo "written in L1" | dd of="$2" bs=512 conv=notrunc 2>/dev/null; '
              'echo changed | dd of="${5%,ro}" conv=notrunc 2>/dev/null || echo ro-refused; '
              'cat "$6"; echo "written in L1" > "${6%/*}/out.txt"; '
              'exit 7')
    run = run_nested(tmp_path, arch, "-c", script, "sh", "-d", str(disk), str(payload),
                     "-d", f"{read_only},ro", str(shared / "in.txt"),
                     options=("--shell", "--share", str(shared)))
    assert run.returncode == 7, run.describe()
    assert f"forwarded to {arch}" in run.stdout, run.describe()
    assert "kvm-present" in run.stdout, run.describe()
    assert disk.read_bytes().startswith(b"written in L1\n"), run.describe()
    assert "ro-refused" in run.stdout, run.describe()
    assert read_only.read_bytes().startswith(b"original"), run.describe()
    assert "from this machine" in run.stdout, run.describe()
    assert (shared / "out.txt").read_text() == "written in L1\n", run.describe()
    show(f"{arch}: shell in L1: {run.reported_timings()}")


def test_timeout_kills_a_hung_host_and_shows_where_it_stopped(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    # long enough for the emulated host to boot on a busy 2-core machine (~60 s)
    run = run_nested(tmp_path, "x86", "-c", "echo spinning-forever; while :; do :; done",
                     options=("--shell",), timeout=120, env={"TMPDIR": str(scratch)})
    assert run.returncode == 124, run.describe()
    assert "timed out after 120 s" in run.stderr, run.describe()
    assert "| spinning-forever" in run.stderr, run.describe()
    assert list(scratch.iterdir()) == [], "temporary files left behind"
    assert processes_mentioning(str(scratch)) == [], "QEMU left running"


def test_ctrl_c_stops_qemu_and_cleans_up(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "vmm", "nested", "--arch", "x86", "--shell",
         "--", "-c", "echo sleeping-now; sleep 600"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TMPDIR": str(scratch)},
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 900
        for line in process.stdout:
            if "sleeping-now" in line or time.monotonic() > deadline:
                break
        process.send_signal(signal.SIGINT)
        returncode = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert returncode == 130
    assert list(scratch.iterdir()) == [], "temporary files left behind"
    assert processes_mentioning(str(scratch)) == [], "QEMU left running"


@pytest.mark.parametrize("arch", ["x86"])
def test_a_missing_tool_is_a_one_line_error(tmp_path: Path, arch: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    result = subprocess.run(
        [sys.executable, "-m", "vmm", "nested", "--arch", arch, "--", "--version"],
        capture_output=True, text=True,
        env={**os.environ, "PATH": str(bin_dir), "XDG_CACHE_HOME": str(tmp_path / "cache")},
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if not line.startswith("vmm nested: ")]
    assert len(lines) == 1, result.stderr
    assert re.fullmatch(r"vmm: error: (dpkg|apt-get|dpkg-deb) is not installed: run "
                        r"'apt-get install (dpkg|apt)' \(or scripts/install-test-deps\)",
                        lines[0]), result.stderr
    assert "Traceback" not in result.stderr
