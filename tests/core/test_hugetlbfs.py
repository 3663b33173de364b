"""``--hugetlbfs PATH``: guest RAM from huge pages (kvmtool's option), checked on a real
hugetlbfs mount and on this host's /dev/kvm; bad paths are one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vmm.core.errors import ConfigError
from vmm.core.hugetlbfs import check_ram_fits, hugetlbfs_page_size
from vmm.core.memory import GuestMemory

HUGE_PAGE = 2 << 20


def run_vmm(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vmm", "run", *args], stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=timeout)


def test_ram_is_mapped_from_huge_pages(hugetlbfs_dir: str) -> None:
    assert hugetlbfs_page_size(hugetlbfs_dir) == HUGE_PAGE
    memory = GuestMemory()
    try:
        region = memory.add(0x8000_0000, 8 * HUGE_PAGE, hugetlbfs=hugetlbfs_dir)
        memory.write(0x8000_0000 + 5 * HUGE_PAGE, b"huge")
        assert memory.read(0x8000_0000 + 5 * HUGE_PAGE, 4) == b"huge"
        assert region.hugetlbfs == hugetlbfs_dir
        assert _kernel_page_size(region.host_addr) == HUGE_PAGE >> 10
        assert os.listdir(hugetlbfs_dir) == []  # the backing file is unlinked at once
    finally:
        memory.close()


def _kernel_page_size(address: int) -> int:
    """KernelPageSize (KiB) of the mapping at ``address``, from /proc/self/smaps."""
    lines = Path("/proc/self/smaps").read_text().splitlines()
    for index, line in enumerate(lines):
        start = line.split("-", 1)[0]
        if "-" in line.split(" ", 1)[0] and int(start, 16) == address:
            size = next(entry for entry in lines[index + 1:] if entry.startswith("KernelPageSize:"))
            return int(size.split()[1])
    raise AssertionError(f"no mapping starts at {address:#x}")


def test_a_guest_runs_on_real_kvm_from_huge_pages(require_kvm: None, hugetlbfs_dir: str) -> None:
    result = run_vmm("--arch", "x86", "-m", "64", "--hugetlbfs", hugetlbfs_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"vmm: built-in guest: hello from real mode, 1 vCPU\n"
    assert os.listdir(hugetlbfs_dir) == []


def test_ram_that_is_not_whole_huge_pages_is_refused(hugetlbfs_dir: str) -> None:
    with pytest.raises(ConfigError, match="multiple of 2 MiB"):
        check_ram_fits(hugetlbfs_dir, 3 << 20)
    result = run_vmm("--arch", "arm64", "--dry-run", "-m", "1", "--hugetlbfs", hugetlbfs_dir)
    assert result.returncode == 1
    assert result.stderr.decode().strip().splitlines() == [
        "vmm: error: can't use the hugetlbfs page size 2048 KiB for 1 MiB of RAM: "
        "give -m as a multiple of 2 MiB"]


@pytest.mark.parametrize("kind", ["missing", "file", "not-hugetlbfs"])
def test_a_path_that_is_not_hugetlbfs_is_a_one_line_error(tmp_path: Path, kind: str) -> None:
    path = {"missing": tmp_path / "nope", "file": tmp_path / "f", "not-hugetlbfs": tmp_path}[kind]
    if kind == "file":
        path.write_text("")
    result = run_vmm("--arch", "arm64", "--dry-run", "--hugetlbfs", str(path))
    assert result.returncode == 1
    (line,) = result.stderr.decode().strip().splitlines()
    expected = "is not hugetlbfs" if kind == "not-hugetlbfs" else "is not a directory"
    assert expected in line and str(path) in line
