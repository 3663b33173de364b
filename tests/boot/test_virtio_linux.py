"""Real Linux guests using the virtio devices, under vmm inside the emulated hosts.

x86 finds them on virtio-pci, arm64 and riscv on virtio-mmio. The guest's console is hvc0
(``--console virtio``): everything it prints after loading virtio_console comes
through the virtio console. It writes a pattern to its virtio disk, syncs, reads
virtio-rng and powers off; the test then reads the pattern in the image file here.
The net test pings the L1 host over a TAP interface.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import run_nested
from .l2_images import POWER_OFF, l2_kernel
from .virtio_images import kernel_module_file, virtio_initramfs

pytestmark = [pytest.mark.boot, pytest.mark.usefixtures("emulated_host")]

TIMEOUT = 420  # an x86 L2 run took 105 s of vmm time on a loaded 2-core machine
TRANSPORTS = {"x86": "pci", "arm64": "mmio", "riscv": "mmio"}
PATTERN = "VMM-VIRTIO-BLK-PATTERN-0123456789"
DISK_BYTES = 4 << 20


def hvc_prelude() -> str:
    """Send the rest of the script's output to hvc0 (virtio-console)."""
    return "exec >/dev/hvc0 2>&1 </dev/hvc0\necho VIRTIO-CONSOLE-UP\n"


@pytest.mark.parametrize("arch", list(TRANSPORTS))
def test_guest_writes_its_disk_reads_rng_on_hvc0(tmp_path: Path, arch: str, show) -> None:
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(DISK_BYTES))
    body = (
        hvc_prelude()
        + f"echo -n {PATTERN} | dd of=/dev/vda bs=512 conv=sync,notrunc 2>/dev/null\n"
        + "sync\n"
        + "echo RNG-SOURCE=$(cat /sys/class/misc/hw_random/rng_current)\n"
        + "echo RNG-BYTES=$(dd if=/dev/hwrng bs=16 count=1 2>/dev/null"
        + " | od -An -tx1 | tr -d ' \\n')\n"
        + "echo VIRTIO-DONE\n"
        + f"{POWER_OFF[arch]}\n"
    )
    initramfs = virtio_initramfs(arch, TRANSPORTS[arch], body, tmp_path / "l2.cpio")
    run = run_nested(
        tmp_path, arch, "run", "--arch", arch, "--sandbox", "-k", str(l2_kernel(arch)), "-i",
        str(initramfs),
        "--console", "virtio", "-p", "console=hvc0 quiet", "-d", str(disk), "--rng",
        timeout=TIMEOUT, watch=("VIRTIO-DONE",),
    )
    show(f"{arch}: virtio guest: {run.reported_timings()}; {run.seconds:.1f} s")
    assert "VIRTIO-CONSOLE-UP" in run.stdout, run.describe()
    assert "RNG-SOURCE=virtio_rng" in run.stdout, run.describe()
    rng_line = next(line for line in run.stdout.splitlines() if line.startswith("RNG-BYTES="))
    assert len(rng_line.split("=", 1)[1].strip()) == 32, run.describe()
    assert "VIRTIO-DONE" in run.stdout, run.describe()
    assert run.returncode == 0, run.describe()
    assert disk.read_bytes()[: len(PATTERN)] == PATTERN.encode(), run.describe()


@pytest.mark.parametrize("arch", ["x86"])
def test_guest_pings_the_host_over_a_tap(tmp_path: Path, arch: str, show) -> None:
    body = (
        hvc_prelude()
        + "ip addr add 10.77.0.2/24 dev eth0\nip link set eth0 up\n"
        + "for i in $(seq 30); do ping -c 1 -W 1 10.77.0.1 >/dev/null && break; done\n"
        + "ping -c 3 -W 2 10.77.0.1 && echo PING-OK\n"
        + f"{POWER_OFF[arch]}\n"
    )
    initramfs = virtio_initramfs(arch, TRANSPORTS[arch], body, tmp_path / "l2.cpio")
    tun = kernel_module_file(arch, "tun", tmp_path / "tun.ko")
    kernel = l2_kernel(arch)
    script = (
        '[ -s "$1" ] && insmod "$1"; '
        f'python3 -m vmm run --arch {arch} -k "$2" -i "$3" --console virtio '
        '-p "console=hvc0 quiet" -n mode=tap,tapif=vmmtap0,guest_mac=02:00:00:00:77:02 & '
        "vmm=$!; for i in $(seq 100); do ip link show vmmtap0 >/dev/null 2>&1 && break; "
        "sleep 0.2; done; ip addr add 10.77.0.1/24 dev vmmtap0; ip link set vmmtap0 up; "
        "wait $vmm"
    )
    run = run_nested(tmp_path, arch, "-c", script, "sh", str(tun), str(kernel), str(initramfs),
                     options=("--shell",), timeout=TIMEOUT, watch=("PING-OK",))
    show(f"{arch}: virtio-net guest: {run.seconds:.1f} s")
    assert "PING-OK" in run.stdout, run.describe()
    assert run.returncode == 0, run.describe()
