"""A hugetlbfs mount with free huge pages for a test (``hugetlbfs_dir`` fixture).

Mounting hugetlbfs and growing the huge page pool need root; the pool and the mount
are restored afterwards, so nothing is left behind.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

NR_HUGEPAGES = Path("/proc/sys/vm/nr_hugepages")
#: 2 MiB pages the fixture adds to the pool: enough for a 64 MiB guest and change.
PAGES_WANTED = 40


def free_huge_pages() -> int:
    """HugePages_Free from /proc/meminfo."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("HugePages_Free:"):
            return int(line.split()[1])
    return 0


def mounted_hugetlbfs(skip: Callable[[str], None]) -> Iterator[str]:
    """Grow the pool, mount a private hugetlbfs, yield its path; undo both after.

    ``skip`` is called with a reason when the host can't (not root, no free pages).
    """
    if os.geteuid() != 0:
        skip("mounting hugetlbfs and reserving huge pages needs root")
    previous = int(NR_HUGEPAGES.read_text())
    NR_HUGEPAGES.write_text(str(previous + PAGES_WANTED))
    mount_point = tempfile.mkdtemp(prefix="vmm-hugetlbfs-")
    mounted = False
    try:
        if free_huge_pages() < PAGES_WANTED // 2:
            skip(f"the kernel gave only {free_huge_pages()} free huge pages")
        subprocess.run(["mount", "-t", "hugetlbfs", "-o", "pagesize=2M", "none", mount_point],
                       check=True, capture_output=True)
        mounted = True
        yield mount_point
    finally:
        try:
            if mounted:  # lazily if a mapping still holds it (the test's VM outlives us)
                if subprocess.run(["umount", mount_point], capture_output=True).returncode:
                    subprocess.run(["umount", "-l", mount_point], check=True)
            os.rmdir(mount_point)
        finally:
            NR_HUGEPAGES.write_text(str(previous))
