"""Real Linux L2 guests under this vmm, inside the emulated KVM hosts.

``vmm nested --arch X -- run --arch X -k <Debian kernel> -i <busybox initramfs>``
must reach the initramfs's marker and exit 0. riscv boots once with each of its
interrupt controllers: KVM's in-kernel AIA and the PLIC emulated in vmm. riscv64 may
hang at L2 shutdown now and then (a known emulation issue), so it gets one retry
when that is what happened: the marker came and the run did not end well. A run
that never reached the marker is not retried (it would only double the time of a
broken boot).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import ARCHES, run_nested
from .l2_images import L2_MARKER, l2_initramfs, l2_kernel

pytestmark = [pytest.mark.boot, pytest.mark.usefixtures("emulated_host")]

L2_TIMEOUT = 240
RETRIES = {"riscv": 1}
#: ``--irqchip`` choices each architecture boots with (None: its only one).
IRQCHIPS = {"riscv": ("aia", "plic")}


@pytest.mark.parametrize(
    "arch, irqchip",
    [pytest.param(arch, irqchip, id=f"{arch}-{irqchip}" if irqchip else arch)
     for arch in ARCHES for irqchip in IRQCHIPS.get(arch, (None,))],
)
def test_l2_linux_reaches_its_initramfs(tmp_path: Path, arch: str, irqchip: str | None,
                                        show) -> None:
    kernel = l2_kernel(arch)
    initramfs = l2_initramfs(arch, tmp_path / f"l2-{arch}.cpio")
    args = ("run", "--arch", arch, "--sandbox", "-k", str(kernel), "-i", str(initramfs),
            "-p", "console=ttyS0 quiet")  # --sandbox: L1's vmm fails if it can't confine
    if irqchip is not None:
        args += ("--irqchip", irqchip)
    name = f"{arch} ({irqchip})" if irqchip else arch
    for attempt in range(1 + RETRIES.get(arch, 0)):
        run = run_nested(tmp_path, arch, *args, timeout=L2_TIMEOUT, watch=(L2_MARKER,))
        if run.returncode == 0 and L2_MARKER in run.stdout:
            break
        show(f"{name}: attempt {attempt + 1} failed: exit {run.returncode}, "
             f"log {run.console_log}")
        if L2_MARKER not in run.stdout:
            break
    marker_at = run.line_times.get(L2_MARKER)
    show(f"{name}: L2 Linux: {run.reported_timings()}; marker at "
         f"{marker_at if marker_at is None else f'{marker_at:.1f} s'} of {run.seconds:.1f} s")
    assert L2_MARKER in run.stdout, run.describe()
    assert run.returncode == 0, run.describe()
