"""``vmm nested --arch arm64 --rme``: a hung emulated Arm CCA host (QEMU -cpu max,x-rme=on,
TF-A, TF-RMM, the kit's cca-host/v7 kernel) times out and leaves nothing behind. That
it boots the RMM and runs the inner vmm is checked by the realm test
(test_rme_realm.py), in the same boot as its realms.

Marker ``rme`` (minutes under TCG): ``-m "not rme"`` deselects these; CI runs them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from arm64_realm.cca_guest import cca_kit

from .conftest import processes_mentioning, run_nested

pytestmark = [pytest.mark.boot, pytest.mark.rme, pytest.mark.usefixtures("emulated_host")]

@pytest.mark.parametrize("arch", ["arm64"])
def test_a_hung_rme_host_times_out_and_leaves_nothing_behind(tmp_path: Path, arch: str) -> None:
    kit = cca_kit()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    run = run_nested(tmp_path, arch, "-c", "echo spinning-forever; while :; do :; done",
                     options=("--rme", "--cca-kit", str(kit), "--shell"), timeout=40,
                     env={"TMPDIR": str(scratch)})
    assert run.returncode == 124, run.describe()
    assert "timed out after 40 s" in run.stderr and "| spinning-forever" in run.stderr, (
        run.describe())
    assert list(scratch.iterdir()) == [], "temporary files left behind"
    assert processes_mentioning(str(scratch)) == [], "QEMU left running"
