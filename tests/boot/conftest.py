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
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from vmm.core.nested.errors import NestedError
from vmm.core.testing import skip_or_fail

ARCHES = ("x86", "arm64", "riscv")
#: Seconds the test waits for ``vmm nested`` itself beyond its own --timeout
#: (the first run downloads and builds the host).
BUILD_ALLOWANCE = 900


def nested_prerequisite_missing() -> str | None:
    """Why ``vmm nested`` cannot work on this machine, or None."""
    from vmm.core.nested.apt import ARCHIVE_KEYRING, find_debian_mirror
    from vmm.core.nested.errors import NestedError

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
        lines = [line for line in self.stderr.splitlines() if "emulated host booted in" in line]
        return lines[-1].removeprefix("vmm nested: ") if lines else "no timings"


def run_nested(tmp_path: Path, arch: str, *args: str, options: tuple[str, ...] = (),
               timeout: float = 300, env: dict[str, str] | None = None,
               watch: tuple[str, ...] = ()) -> NestedRun:
    """Run ``vmm nested --arch ARCH OPTIONS -- ARGS`` and collect its output.

    ``watch`` lists strings whose first appearance on stdout is timed.
    """
    log = tmp_path / f"console-{arch}-{int(time.time() * 1000)}.log"
    command = [sys.executable, "-m", "vmm", "nested", "--arch", arch,
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


def _prepare(arch: str) -> None:
    """Download and build ``arch``'s QEMU and emulated host into the cache."""
    from vmm.core.nested.hostimage import prepare_host
    from vmm.core.nested.qemu import find_qemu
    from vmm.core.nested.run import emulated_host_for

    spec = emulated_host_for(arch)
    find_qemu(spec)
    prepare_host(spec)


def host_arch_of(item: pytest.Item) -> str:
    """The emulated host a boot test uses: its ``arch`` parameter, else x86."""
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("arch", "x86") if callspec else "x86"


@pytest.fixture(scope="session")
def host_builds(request: pytest.FixtureRequest) -> Iterator[dict[str, Future[None]]]:
    """Build the emulated hosts the selected tests use, all at once, in the background.

    On a cold cache the downloads of one architecture overlap with those and the
    builds of the others, instead of each test fetching its own host in turn.
    """
    wanted = sorted({host_arch_of(item) for item in request.session.items
                     if "emulated_host" in getattr(item, "fixturenames", ())})
    pool = ThreadPoolExecutor(max_workers=max(len(wanted), 1), thread_name_prefix="host-build")
    try:
        yield {arch: pool.submit(_prepare, arch) for arch in wanted}
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture
def emulated_host(request: pytest.FixtureRequest) -> None:
    """Require what ``vmm nested`` needs (skip, or fail in CI), and wait until the
    test's emulated host is built."""
    require_emulated_host()
    builds = request.getfixturevalue("host_builds")
    arch = host_arch_of(request.node)
    try:
        builds[arch].result()
    except NestedError as error:
        pytest.fail(f"the {arch} emulated host could not be built: {error}")


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
