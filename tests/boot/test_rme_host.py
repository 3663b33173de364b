"""``vmm nested --arch arm64 --rme``: the emulated Arm CCA host (QEMU -cpu max,x-rme=on,
TF-A, TF-RMM, the kit's cca-host/v7 kernel) boots and runs the inner vmm.

Marker ``rme`` (minutes under TCG): ``-m "not rme"`` deselects these; CI runs them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from arm64_realm.cca_guest import cca_kit

from vmm.core.nested.initscript import KVM_READY

from .conftest import processes_mentioning, run_nested

pytestmark = [pytest.mark.boot, pytest.mark.rme, pytest.mark.usefixtures("emulated_host")]

#: What TF-RMM v0.8.0 prints when it boots: the RMI version the host kernel needs.
RMM_BANNER = "RMI ABI revision v1.0"


@pytest.mark.parametrize("arch", ["arm64"])
def test_the_rme_host_boots_the_rmm_and_runs_the_inner_vmm(tmp_path: Path, arch: str,
                                                           show) -> None:
    kit = cca_kit()
    run = run_nested(tmp_path, arch, "--version", options=("--rme", "--cca-kit", str(kit)))
    assert run.returncode == 0, run.describe()
    assert run.stdout.strip() == "vmm 0.1.0", run.describe()
    console = run.console_log.read_text(errors="replace")
    assert RMM_BANNER in console and KVM_READY in console, run.describe()
    show(f"arm64 --rme: vmm --version: {run.reported_timings()}; wall {run.seconds:.1f} s")


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
