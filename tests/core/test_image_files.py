"""Kernel, initrd and firmware files: only regular files, no bigger than guest RAM,
checked before anything is read; a FIFO never blocks vmm.

Before: ``-k /dev/zero`` ended in a MemoryError traceback, a 3 GiB sparse initrd was
read whole (28 s, 3 GiB RSS) before the "does not fit" error, and a FIFO as kernel
or initrd blocked in open() and ignored SIGTERM.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from vmm.core.errors import ImageError
from vmm.core.images import read_image

GIB = 1 << 30


def vmm_run(*args: str, timeout: float = 60) -> tuple[int, str, int]:
    """``vmm run --arch arm64 --dry-run ARGS`` (the built-in guest by default);
    return the exit status, stderr and the process's peak RSS in KiB."""
    command = [sys.executable, "-m", "vmm", "run", "--arch", "arm64", "--dry-run", *args]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    hung = threading.Event()
    timer = threading.Timer(timeout, lambda: (hung.set(), process.kill()))
    timer.start()
    assert process.stderr is not None
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)  # reaped here, for its own rusage
    timer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    process.stderr.close()
    if hung.is_set():
        pytest.fail(f"vmm run {' '.join(args)} hung")
    return process.returncode, stderr.decode(), usage.ru_maxrss


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vmm: error: "), stderr
    return lines[0]


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return str(path)


@pytest.mark.parametrize("option", ["-k", "-i", "--firmware"])
def test_a_fifo_is_refused_without_blocking(fifo, option):
    code, stderr, _ = vmm_run(option, fifo, timeout=20)
    assert code == 1
    assert "is not a regular file" in one_line(stderr)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_a_character_device_is_refused(device):
    code, stderr, _ = vmm_run("-k", device)
    assert code == 1
    assert f"kernel {device!r} is not a regular file" in one_line(stderr)


def test_an_initrd_bigger_than_ram_is_refused_before_it_is_read(tmp_path):
    initrd = tmp_path / "initrd.sparse"
    with open(initrd, "wb") as handle:
        handle.truncate(3 * GIB)
    code, stderr, peak_kib = vmm_run("-m", "64", "-i", str(initrd))
    assert code == 1
    line = one_line(stderr)
    assert "initrd" in line and "3072 MiB" in line and "64 MiB of guest RAM" in line
    assert peak_kib < 512 * 1024, f"vmm read the file: peak RSS {peak_kib >> 10} MiB"


def test_read_image_does_not_block_on_a_fifo_made_after_validation(fifo):
    """A file swapped for a FIFO between the checks and the read still can't block."""
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            read_image(fifo, "kernel", limit=GIB)
        except BaseException as error:  # noqa: BLE001 - reported below
            outcome.append(error)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=10)
    if reader.is_alive():
        with open(fifo, "wb"):  # let the blocked open() return
            pass
        pytest.fail("read_image blocked on a FIFO")
    assert len(outcome) == 1 and isinstance(outcome[0], ImageError)
    assert "is not a regular file" in str(outcome[0])


def test_read_image_reads_what_it_checked(tmp_path):
    path = tmp_path / "image"
    path.write_bytes(b"x" * 4096)
    assert read_image(str(path), "kernel", limit=4096) == b"x" * 4096
    with pytest.raises(ImageError, match=r"kernel .* \(4096 bytes\) is bigger than the 4095 "):
        read_image(str(path), "kernel", limit=4095)
    path.write_bytes(b"")
    assert read_image(str(path), "kernel", limit=4096) == b""
