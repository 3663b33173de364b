"""Opt-in measurements in the emulated x86 host: L2 Linux boot (--nested) and
virtio-blk throughput (--blk).

Both need a Linux guest, which this machine's PVM /dev/kvm cannot boot, so they run
under ``vmm nested``. They are measured once the pieces they stand on exist; until
then each is one row saying which piece is missing, never a made-up number.
"""

from __future__ import annotations

import importlib.util

from .report import Metric, Target
from .suite import Settings, not_measurable
from .vmms import Vmm

#: Where the boot tests' helper that builds an L2 kernel + initramfs is expected.
L2_HELPER_MODULE = "tests.boot.l2linux"


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


def measure_nested(vmm: Vmm, settings: Settings) -> list[Metric]:
    """L2 Linux boot time to its initramfs marker under vmm inside the emulated host."""
    missing = _missing_pieces(needs_blk=False)
    name = "L2 Linux boot to initramfs marker (emulated x86 host)"
    if missing:
        return [not_measurable(name, "s", "needs " + " and ".join(missing))]
    return [not_measurable(name, "s", f"{L2_HELPER_MODULE} exists but this suite does not "
                                      "drive it yet")]


def measure_blk(vmm: Vmm, settings: Settings) -> list[Metric]:
    """virtio-blk sequential 1 MiB reads/writes and 4 KiB random reads (dd in L2)."""
    missing = _missing_pieces(needs_blk=True)
    reason = "needs " + " and ".join(missing) if missing else (
        "the pieces exist but this suite does not drive them yet")
    return [
        not_measurable("virtio-blk sequential read, 1 MiB", "MB/s", reason, Target(0.8, "ratio>=")),
        not_measurable("virtio-blk sequential write, 1 MiB", "MB/s", reason, Target(0.8, "ratio>=")),
        not_measurable("virtio-blk random read, 4 KiB", "IOPS", reason),
    ]
