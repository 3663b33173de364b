"""The boot tier: runs ``vmm nested`` for real (QEMU TCG emulated KVM hosts).

Missing prerequisites skip these tests, or fail them when VMM_REQUIRE_KVM=1 (CI).
Each run keeps the emulated host's whole console in the test's tmp dir; failure
messages give its path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from vmmcore.testing import skip_or_fail

ARCHES = ("x86", "arm64", "riscv")
#: Seconds the test waits for ``vmm nested`` itself beyond its own --timeout
#: (the first run downloads and builds the host).
BUILD_ALLOWANCE = 900


def nested_prerequisite_missing() -> str | None:
    """Why ``vmm nested`` cannot work on this machine, or None."""
    from vmmcore.nested.apt import ARCHIVE_KEYRING, find_debian_mirror
    from vmmcore.nested.errors import NestedError

    for tool, package in (("apt-get", "apt"), ("dpkg-deb", "dpkg")):
        if not shutil.which(tool):
            return f"{tool} is missing (apt-get install {package})"
    if not ARCHIVE_KEYRING.is_file():
        return f"{ARCHIVE_KEYRING} is missing (apt-get install debian-archive-keyring)"
    try:
        find_debian_mirror()
    except NestedError as error:
        return str(error)
    return None


def require_emulated_host() -> None:
    """Skip (fail with VMM_REQUIRE_KVM=1) when no emulated host can be built."""
    reason = nested_prerequisite_missing()
    if reason:
        skip_or_fail(f"vmm nested cannot run here: {reason}")


@dataclass
class NestedRun:
    """One finished ``vmm nested`` run, with what it printed and when."""

    command: list[str]
    returncode: int
    stdout: str
    stderr: str
    console_log: Path
    seconds: float
    line_times: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        """A failure message: exit status, output tails and where the log is."""
        return (
            f"exit status {self.returncode} after {self.seconds:.1f} s\n"
            f"command: {' '.join(self.command)}\n"
            f"--- stdout (tail) ---\n{self.stdout[-3000:]}\n"
            f"--- stderr (tail) ---\n{self.stderr[-3000:]}\n"
            f"emulated host console log kept at: {self.console_log}"
        )

    def reported_timings(self) -> str:
        """The 'emulated host booted in ...' line of ``--verbose``, if any."""
        lines = [l for l in self.stderr.splitlines() if "emulated host booted in" in l]
        return lines[-1].removeprefix("vmm nested: ") if lines else "no timings"


def run_nested(tmp_path: Path, arch: str, *args: str, options: tuple[str, ...] = (),
               timeout: float = 300, env: dict[str, str] | None = None,
               watch: tuple[str, ...] = ()) -> NestedRun:
    """Run ``vmm nested --arch ARCH OPTIONS -- ARGS`` and collect its output.

    ``watch`` lists strings whose first appearance on stdout is timed.
    """
    log = tmp_path / f"console-{arch}-{int(time.time() * 1000)}.log"
    command = [sys.executable, "-m", "vmmcore.cli", "nested", "--arch", arch,
               "--timeout", str(timeout), "--console-log", str(log), "-v",
               *options, "--", *args]
    started = time.monotonic()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})}, text=True,
    )
    line_times: dict[str, float] = {}
    stdout_lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            stdout_lines.append(line)
            for wanted in watch:
                if wanted in line and wanted not in line_times:
                    line_times[wanted] = time.monotonic() - started
        stderr = process.stderr.read() if process.stderr else ""
        process.wait(timeout=timeout + BUILD_ALLOWANCE)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return NestedRun(command, process.returncode, "".join(stdout_lines), stderr, log,
                     time.monotonic() - started, line_times)


@pytest.fixture
def emulated_host() -> None:
    """Require what ``vmm nested`` needs (skip, or fail in CI)."""
    require_emulated_host()


@pytest.fixture
def show(capsys: pytest.CaptureFixture[str]):
    """Print a line to the terminal even while output is captured (timings)."""
    def printer(text: str) -> None:
        with capsys.disabled():
            print(f"\n[boot] {text}")
    return printer


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes containing ``text`` (for leak checks)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmdline:
                found.append(cmdline)
    return found
