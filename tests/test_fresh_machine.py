"""scripts/fresh-machine (what CI runs the suite in) leaves nothing behind: after
success, failure, Ctrl-C or a TERM there is no mount, no process and no directory
left, and a mount it did not make stops it from deleting the tree. A tiny base root
(bash, env, sleep, umount, rmdir) stands in for the debootstrap one, so these take seconds."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tarfile
from pathlib import Path

import pytest

from vmm.core.testing import skip_or_fail

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "fresh-machine"


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A base root tarball holding bash, env, sleep, umount and rmdir (debootstrap's
    minbase has them all) and the libraries they load."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        skip_or_fail("scripts/fresh-machine needs root and unshare (util-linux)")
    root = tmp_path_factory.mktemp("tiny") / "root"
    for directory in ("dev", "proc", "sys", "tmp", "root", "etc/apt", "etc/ssl/certs",
                      "usr/local/share/ca-certificates"):
        (root / directory).mkdir(parents=True)
    for tool, where in (("bash", "bin/bash"), ("env", "usr/bin/env"), ("sleep", "usr/bin/sleep"),
                        ("umount", "usr/bin/umount"), ("rmdir", "usr/bin/rmdir")):
        program = Path(shutil.which(tool))
        (root / where).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(program, root / where)
        ldd = subprocess.run(["ldd", str(program)], capture_output=True, text=True, check=True)
        for word in ldd.stdout.split():
            if word.startswith("/"):
                (root / word[1:]).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(word, root / word[1:])
    tarball = root.parent / "tiny.tar"
    with tarfile.open(tarball, "w") as archive:
        archive.add(root, arcname=".")
    return tarball


def start(tiny_base: Path, tmp_path: Path, *commands: str) -> subprocess.Popen[str]:
    """Run the script on the tiny base, its work directory under ``tmp_path``."""
    env = {**os.environ, "TMPDIR": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    return subprocess.Popen(
        [str(SCRIPT), "--base", str(tiny_base), "--cold", "--", *commands],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        text=True, env=env, start_new_session=True,  # its own group, as a terminal's job
    )


def wait_for_line(process: subprocess.Popen[str], wanted: str) -> list[str]:
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.strip() == wanted:
            return lines
    pytest.fail(f"the script ended before printing {wanted!r}:\n{''.join(lines)}")


def mounts_under(directory: Path) -> list[str]:
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [point for point in points if point.startswith(f"{directory}/")]


def processes_running(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmdline:
                found.append(cmdline)
    return found


def assert_nothing_left(tmp_path: Path, sleeper: str = "") -> None:
    assert not list(tmp_path.glob("vmm-fresh.*")), "the work directory was left behind"
    assert not mounts_under(tmp_path)
    if sleeper:
        assert not processes_running(sleeper)


def test_commands_run_in_the_root_with_its_mounts_then_everything_goes(tiny_base, tmp_path):
    shared = (REPO.parent / "shared").is_dir()
    checks = [
        "test -f Makefile && test -d .git",             # the clone of the commit under test
        "test -c /dev/null && test -d /proc/1 && test -d /sys/class",
        # ../shared beside it, read-only
        "test -d /build/shared && ! (: >/build/shared/probe) 2>/dev/null" if shared else "true",
    ]
    process = start(tiny_base, tmp_path, *checks)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    assert_nothing_left(tmp_path)


def test_a_failing_command_stops_the_run_with_its_status(tiny_base, tmp_path):
    process = start(tiny_base, tmp_path, "exit 3", "echo not reached")
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 3, output
    assert "not reached" not in output
    assert_nothing_left(tmp_path)


@pytest.mark.parametrize(("sent", "status"), [("ctrl-c", 130), ("term", 143)])
def test_interrupted_run_leaves_nothing_behind(tiny_base, tmp_path, sent, status):
    """Ctrl-C reaches the whole job; CI's TERM reaches the script alone. Either way
    the processes in the root (a sleep here) die and the root goes."""
    # a duration of this run's own, so that another suite running at once on this
    # machine (whose processes /proc shows too) can't be mistaken for a leftover
    sleeper = f"sleep 312.{os.getpid()}"
    process = start(tiny_base, tmp_path, f"echo ready; {sleeper}")
    wait_for_line(process, "ready")
    if sent == "ctrl-c":
        os.killpg(process.pid, signal.SIGINT)
    else:
        process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == status, output
    assert_nothing_left(tmp_path, sleeper)


def test_a_mount_below_the_root_stops_the_deletion(tiny_base, tmp_path):
    """Something mounted below the work directory in this namespace (not by the script)
    must not be deleted through: the script says so and leaves the tree."""
    process = start(tiny_base, tmp_path, "echo ready; sleep 312.7")
    wait_for_line(process, "ready")
    [work] = tmp_path.glob("vmm-fresh.*")
    mount_point = work / "root" / "tmp"
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(mount_point)], check=True)
    try:
        (mount_point / "precious").write_text("keep me")
        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=60)
        assert process.returncode == 130, output
        assert f"not deleting {work}" in output
        assert (mount_point / "precious").read_text() == "keep me"
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)
    shutil.rmtree(work)
