"""The emulated-host measurements' own pieces: blkbench, the QEMU bundle, the console
parser and the line stamps. No timing is asserted; ``python -m benchmarks --blk``
runs the whole thing (it needs an emulated host: minutes, not a unit test)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from benchmarks.inhost import (
    BLK_RUNS,
    L2_MARKER,
    blk_figure,
    build_blkbench,
    guest_body,
    l1_script,
    parse_session,
)
from benchmarks.measure import run_process
from benchmarks.peerbundle import launch_words, shared_libraries, write_bundle
from vmm.core.testing import skip_or_fail

RESULT = re.compile(r"BLKBENCH mode=(\w+) block=(\d+) ops=(\d+) bytes=(\d+) ns=(\d+)")


@pytest.fixture(scope="module")
def blkbench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        skip_or_fail("gcc not installed: apt-get install gcc libc6-dev")
    return build_blkbench(tmp_path_factory.mktemp("blkbench"))


def _run(program: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(program), *args], capture_output=True,
                          text=True)


def test_blkbench_is_static_and_runs_every_mode_on_a_file(blkbench: Path, tmp_path: Path) -> None:
    assert "not a dynamic executable" in subprocess.run(
        ["ldd", str(blkbench)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True).stdout
    disk = Path("/var/tmp") / f"vmm-blkbench-{tmp_path.name}.img"  # O_DIRECT: not tmpfs
    try:
        disk.write_bytes(bytes(4 << 20))
        for mode, block, _, _ in BLK_RUNS:
            done = _run(blkbench, str(disk), mode, str(block), "16", "5")
            assert done.returncode == 0, done.stderr
            match = RESULT.fullmatch(done.stdout.strip())
            assert match and match.group(1) == mode and int(match.group(2)) == block
            ops, size = int(match.group(3)), int(match.group(4))
            assert ops == 16 and size == 16 * block and int(match.group(5)) > 0
        assert disk.read_bytes() == b"\xa5" * (4 << 20)  # 16 MiB written: wrapped round
    finally:
        disk.unlink(missing_ok=True)


def test_blkbench_refuses_bad_arguments_with_a_message(blkbench: Path, tmp_path: Path) -> None:
    assert _run(blkbench, "/nonexistent", "seqread", "4096", "1", "1").returncode == 1
    assert _run(blkbench, str(tmp_path), "sideways", "4096", "1", "1").returncode == 2
    odd = _run(blkbench, str(tmp_path), "seqread", "1000", "1", "1")
    assert odd.returncode == 2 and "multiple of 512" in odd.stderr


def test_parse_session_times_each_vmm_from_its_start_line() -> None:
    lines = [
        (1.0, "vmm nested: something"), (2.0, L2_MARKER),  # before any BENCH-RUN: ignored
        (10.0, "BENCH-RUN=vmm"), (13.5, f"{L2_MARKER} uptime=2.25"),
        (14.0, "BLKBENCH mode=seqread block=1048576 ops=100 bytes=104857600 ns=500000000"),
        (15.0, "BLKBENCH mode=randread block=4096 ops=3000 bytes=12288000 ns=2000000000"),
        (16.0, "BENCH-EXIT=vmm:0"),
        (20.0, "BENCH-RUN=qemu"), (22.0, L2_MARKER), (23.0, L2_MARKER),
        (24.0, "BENCH-EXIT=qemu:3"),
    ]
    runs = parse_session(lines)
    assert runs["vmm"].to_marker == pytest.approx(3.5) and runs["vmm"].exit_status == 0
    assert runs["vmm"].uptime == 2.25 and runs["qemu"].uptime is None
    assert runs["vmm"].blk == {"seqread": pytest.approx(209.7152),
                               "randread": pytest.approx(1500.0)}
    assert runs["qemu"].to_marker == pytest.approx(2.0) and runs["qemu"].exit_status == 3
    assert blk_figure("seqwrite", 1, 1_000_000, 1_000_000_000) == pytest.approx(1.0)


def test_l1_script_runs_each_vmm_on_a_fresh_disk_in_the_given_order() -> None:
    script = l1_script(("qemu", "vmm"), "/opt/peer/lib/ld.so /opt/peer/bin/q")
    runs = re.findall(r"echo BENCH-RUN=(\w+)", script)
    assert runs == ["qemu", "vmm"]
    assert script.count("dd if=/dev/zero") == 2
    assert "virtio-blk-pci" in script and "-d /root/disk.raw" in script
    assert guest_body(False) == "reboot -f\n"
    assert [line.split()[2] for line in guest_body(True).splitlines()[:-1]] == \
        [mode for mode, *_ in BLK_RUNS]


def test_bundle_holds_qemu_its_libraries_loader_and_firmware(tmp_path: Path) -> None:
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        skip_or_fail("qemu-system-x86_64 not installed: apt-get install qemu-system-x86")
    loader = write_bundle(Path(qemu), tmp_path / "bundle.tar")
    with tarfile.open(tmp_path / "bundle.tar") as bundle:
        names = set(bundle.getnames())
    libraries, _ = shared_libraries(Path(qemu))
    assert "bin/qemu-system-x86_64" in names and f"lib/{loader}" in names
    assert {f"lib/{library.name}" for library in libraries} <= names
    assert "share/bios-microvm.bin" in names or "share/qboot.rom" in names
    # The bundled loader runs the bundled QEMU with only the bundled libraries.
    unpacked = tmp_path / "peer"
    unpacked.mkdir()
    # Debian 12's Python 3.11.2 predates extraction filters (3.11.4)
    options = {"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}
    with tarfile.open(tmp_path / "bundle.tar") as bundle:
        bundle.extractall(unpacked, **options)
    words = launch_words(str(unpacked), "qemu-system-x86_64", loader).split()
    version = subprocess.run([*words, "--version"], stdout=subprocess.PIPE, text=True)
    assert version.returncode == 0 and version.stdout.startswith("QEMU emulator version")


def test_stamped_lines_give_each_line_its_arrival_time() -> None:
    script = "import sys,time; print('a'); sys.stdout.flush(); time.sleep(0.2); print('b')"
    run = run_process([sys.executable, "-c", script], timeout=30)
    (first, line_a), (second, line_b) = run.stamped_lines()
    assert (line_a, line_b) == ("a", "b")
    assert 0 < first < second <= run.to_exit
    assert second - first >= 0.15
