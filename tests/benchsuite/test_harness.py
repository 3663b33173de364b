"""The benchmark suite's own pieces: guest images, the process timer, the table.

No timing is asserted here (timings belong to ``python -m benchmarks``); these tests
check that the suite measures the right thing: that its guests are well formed and
run to their marker and shut-down under vmm, that a marker is found and stamped,
and that targets and ratios are judged correctly.
"""

from __future__ import annotations

import io
import shutil
import sys

import pytest

from benchmarks.guests import BINUTILS, KINDS, MARKER, assemble
from benchmarks.measure import run_process
from benchmarks.report import Metric, Target, print_table
from benchmarks.suite import Settings, run_guest
from benchmarks.vmms import find_vmm
from vmm.core.testing import skip_or_fail

IMAGE_SIZE = 0x10000
RESET_VECTOR = 0xFFF0
NEAR_JUMP = 0xE9

@pytest.fixture
def binutils() -> None:
    """The guests are assembled with binutils (CI installs them: skip only locally)."""
    missing = [tool for tool in BINUTILS if shutil.which(tool) is None]
    if missing:
        skip_or_fail(f"binutils not installed ({', '.join(missing)}): apt-get install binutils")


needs_binutils = pytest.mark.usefixtures("binutils")


@needs_binutils
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_guest_is_a_64k_image_whose_reset_vector_jumps_to_its_start(tmp_path, kind):
    image = assemble(kind, 1000, tmp_path).image.read_bytes()
    assert len(image) == IMAGE_SIZE
    assert image[RESET_VECTOR] == NEAR_JUMP
    displacement = int.from_bytes(image[RESET_VECTOR + 1 : RESET_VECTOR + 3], "little")
    assert (RESET_VECTOR + 3 + displacement) & 0xFFFF == 0  # lands on IP 0: the entry
    assert MARKER in image


@needs_binutils
@pytest.mark.parametrize("kind", ["empty", "pio", "mmio", "loop"])
def test_guest_prints_its_marker_and_resets_under_vmm(require_kvm, tmp_path, kind):
    guest = assemble(kind, 1000, tmp_path)
    run = run_guest(find_vmm(), guest, Settings(1, 1, 1000, 64, timeout=60))
    assert run.status == 0
    assert run.stdout.startswith(MARKER)
    assert run.to_marker is not None and 0 < run.to_marker <= run.to_exit
    assert run.max_rss > 0


def test_run_process_stamps_the_marker_and_collects_both_streams():
    script = "import sys; sys.stderr.write('e'); print('noise'); print('vmm-bench: ready')"
    run = run_process([sys.executable, "-c", script], marker=MARKER, timeout=60)
    assert run.status == 0
    assert run.stdout == b"noise\nvmm-bench: ready\n"
    assert run.stderr == b"e"
    assert run.to_marker is not None and run.to_marker <= run.to_exit
    assert run.cpu >= 0


def test_run_process_without_the_marker_has_no_marker_time():
    run = run_process([sys.executable, "-c", "raise SystemExit(3)"], marker=MARKER, timeout=60)
    assert run.status == 3
    assert run.to_marker is None


def test_targets_judge_the_ratio_of_medians_or_vmms_own_median():
    slower = Metric("m", "ms", vmm=[2.0, 3.0, 30.0], qemu=[2.0, 2.0, 2.0])
    assert slower.ratio() == 1.5
    assert Target(1.5, "ratio<=").met(slower)
    assert not Target(1.0, "ratio<=").met(slower)
    assert not Target(2.0, "ratio>=").met(slower)
    assert Target(3.5, "vmm<").met(slower) and not Target(3.0, "vmm<").met(slower)
    assert slower.paired_ratios() == [1.0, 1.5, 15.0]


def test_table_shows_spread_ratio_verdict_and_why_a_row_is_empty():
    metrics = [Metric("exit", "us", vmm=[1.0, 2.0, 3.0], qemu=[2.0, 2.0, 2.0],
                      target=Target(1.5, "ratio<=")),
               Metric("blk", "MB/s", target=Target(0.8, "ratio>="), note="not yet measurable: x")]
    out = io.StringIO()
    print_table(metrics, out)
    text = out.getvalue()
    assert "1 / 2 / 3" in text and "1.00 (0.50-1.50)" in text and "<= 1.5: ok" in text
    assert ">= 0.8: n/a" in text and "blk: not yet measurable: x" in text
