"""Opt-in measurements in the emulated x86 host: L2 Linux boot (--nested) and
virtio-blk throughput (--blk).

Both need a Linux guest, which this machine's PVM /dev/kvm cannot boot, so they run
under ``vmm nested``. They are measured once the pieces they stand on exist; until
then each is one row saying which piece is missing, never a made-up number.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import tempfile
from pathlib import Path

from vmmcore.errors import VmmError

from .errors import BenchError
from .measure import describe_failure, run_process
from .report import Metric, Target
from .suite import Settings, not_measurable
from .vmms import Vmm

#: The boot tests' helper that builds the L2 kernel + busybox initramfs.
L2_HELPER_MODULE = "tests.boot.l2_images"
#: Seconds one nested run may take (L1 boot under TCG, then L2 Linux).
NESTED_TIMEOUT = 600
#: What ``vmm nested --verbose`` prints once the emulated host has finished.
NESTED_TIMINGS = re.compile(r"emulated host booted in ([\d.]+) s, vmm ran ([\d.]+) s")


def _missing_pieces(needs_blk: bool) -> list[str]:
    """What the repository still lacks for a Linux guest in the emulated host."""
    missing = []
    if importlib.util.find_spec("vmmcore.nested") is None:
        missing.append("vmm nested (vmmcore/nested)")
    if importlib.util.find_spec(L2_HELPER_MODULE) is None:
        missing.append(f"the boot tests' L2 initramfs helper ({L2_HELPER_MODULE})")
    if needs_blk and importlib.util.find_spec("plugins.virtio.blk") is None:
        missing.append("a virtio-blk device (plugins/virtio/blk.py)")
    return missing


def measure_nested(vmm: Vmm, settings: Settings, runs: int) -> list[Metric]:
    """L2 Linux boot under vmm inside the emulated x86 host, to its initramfs marker.

    Three rows: the L1 boot (QEMU TCG), the inner vmm's whole run (L2 boot and
    reset), and L2 from the inner vmm's start to the marker. QEMU inside L1 is not
    measured: the emulated host carries only Python and this vmm.
    """
    names = ("nested: L1 host boot (QEMU TCG)", "nested: L2 Linux, vmm start to exit",
             "nested: L2 Linux, vmm start to initramfs marker")
    missing = _missing_pieces(needs_blk=False)
    if missing:
        return [not_measurable(name, "s", "needs " + " and ".join(missing)) for name in names]
    from tests.boot.l2_images import L2_MARKER, l2_initramfs, l2_kernel

    metrics = [Metric(name, "s") for name in names]
    with tempfile.TemporaryDirectory(prefix="vmm-bench-l2-") as directory:
        try:
            kernel = l2_kernel("x86")
            initramfs = l2_initramfs("x86", Path(directory) / "l2.cpio")
        except (VmmError, OSError, subprocess.CalledProcessError) as error:
            raise BenchError(f"cannot build the L2 kernel and initramfs: {error}") from None
        argv = vmm.command("nested", "--arch", "x86", "--verbose", "--timeout",
                           str(NESTED_TIMEOUT), "--", "run", "--arch", "x86", "-k",
                           str(kernel), "-i", str(initramfs), "-p", "console=ttyS0 quiet")
        for index in range(runs):
            try:
                samples = _nested_run(argv, vmm, L2_MARKER)
            except BenchError as error:  # the other measurements still get reported
                metrics[0].note = f"run {index + 1} of {runs} failed: {error}"
                return metrics
            for metric, value in zip(metrics, samples):
                metric.vmm.append(value)
    metrics[0].note = ("vmm only: the emulated host carries no QEMU; times from "
                       "vmm nested --verbose and the marker's arrival")
    return metrics


def _nested_run(argv: list[str], vmm: Vmm, marker: str) -> tuple[float, float, float]:
    """One nested run: (L1 boot, inner vmm run, inner vmm start to marker) seconds."""
    run = run_process(argv, marker=marker.encode(), timeout=NESTED_TIMEOUT + 60,
                      env=vmm.environment())
    timings = NESTED_TIMINGS.search(run.stderr.decode(errors="replace"))
    if run.status != 0 or run.to_marker is None or timings is None:
        problem = describe_failure(argv, run)
        if run.status == 0:
            problem = f"the L2 guest never printed {marker}"
        raise BenchError(f"L2 Linux in the emulated x86 host: {problem}")
    l1_boot, vmm_ran = float(timings.group(1)), float(timings.group(2))
    vmm_started = run.to_exit - vmm_ran  # seconds after the spawn
    return l1_boot, vmm_ran, run.to_marker - vmm_started


def measure_blk(vmm: Vmm, settings: Settings) -> list[Metric]:
    """virtio-blk sequential 1 MiB reads/writes and 4 KiB random reads (dd in L2)."""
    missing = _missing_pieces(needs_blk=True)
    reason = "needs " + " and ".join(missing) if missing else (
        "needs an L2 x86 Linux guest that boots under vmm nested (--nested shows whether "
        "it does; tests/boot/test_l2_linux.py marks it xfail), then dd in it on a raw "
        "image attached with -d: not driven by this suite yet")
    return [
        not_measurable("virtio-blk sequential read, 1 MiB", "MB/s", reason, Target(0.8, "ratio>=")),
        not_measurable("virtio-blk sequential write, 1 MiB", "MB/s", "see the read row",
                       Target(0.8, "ratio>=")),
        not_measurable("virtio-blk random read, 4 KiB", "IOPS", "see the read row"),
    ]
