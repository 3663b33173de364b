"""Realms under a real RMM: vmm boots the kit's Debian guest kernel as a realm inside
``vmm nested --arch arm64 --rme``, and the attestation token the realm reads
matches vmm's own prediction.

One emulated host runs two realms in turn, measured with SHA-256 then SHA-512. Each
boots to its initramfs marker on the serial console, reads a challenge from its
virtio-blk disk (an image in a ``--share`` directory, so the realm's I/O bounces
through shared memory with VIRTIO_F_ACCESS_PLATFORM), asks configfs-tsm for a CCA
token with it, writes the token back to the disk and powers off. Here, ``vmm realm
verify`` checks each token against the plan a ``--dry-run`` of the same command
line recorded: the realm initial measurement, the personalisation value
(``--realm-pv``), the challenge and the platform binding.

Marker ``rme`` (minutes under TCG): ``-m "not rme"`` deselects it; CI runs it.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from arm64_realm.cca_guest import REPORT_DIR, cca_kit, guest_initramfs, guest_kernel, init_script

from vmm.core.nested.initscript import KVM_READY

from .conftest import run_nested

pytestmark = [pytest.mark.boot, pytest.mark.rme, pytest.mark.usefixtures("emulated_host")]

ALGORITHMS = ("sha256", "sha512")
#: What TF-RMM v0.8.0 prints when it boots: the RMI version the host kernel needs.
RMM_BANNER = "RMI ABI revision v1.0"
REALM_PV = "vmm-rme-e2e"
GUEST_MODULES = ("configfs", "tsm_report", "arm-cca-guest", "virtio_mmio", "virtio_blk")
#: The disk: the challenge in its first 64 bytes, the token from 4 KiB on.
TOKEN_OFFSET = 4096
DISK_BYTES = 1 << 20
#: Two realms of a 48 MB kernel under TCG: about 65 s each on a quiet machine.
TIMEOUT = 1500
GUEST_UP = "RME-E2E-GUEST-UP"
TOKEN_BYTES = "RME-E2E-TOKEN-BYTES="
FEATURES = "RME-E2E-FEATURES "
#: VIRTIO_F_ACCESS_PLATFORM: the device goes through the platform's DMA rules, which
#: in a realm means bounce buffers in shared memory.
ACCESS_PLATFORM = 33
GUEST_BODY = f"""echo "{GUEST_UP} $(uname -r)"
for f in /sys/bus/virtio/devices/*/features; do echo "{FEATURES}$(cat $f)"; done
mkdir {REPORT_DIR}
dd if=/dev/vda of={REPORT_DIR}/inblob bs=64 count=1 2>/dev/null
cat {REPORT_DIR}/outblob > /tmp/token
dd if=/tmp/token of=/dev/vda bs={TOKEN_OFFSET} seek=1 conv=notrunc 2>/dev/null
sync
echo "{TOKEN_BYTES}$(wc -c < /tmp/token)\""""


def realm_args(kernel: str, initrd: str, disk: str, algorithm: str) -> list[str]:
    """``vmm run`` of one realm: the same words for the real run and the dry run."""
    return ["run", "--arch", "arm64", "--realm", "--realm-uabi", "v7", "--rmm", "rel0",
            "--measurement-algo", algorithm, "--realm-pv", REALM_PV, "-k", kernel, "-i", initrd,
            "-m", "256", "-c", "1", "-p", "console=ttyS0 quiet", "-d", disk]


def inner_command(share: Path, algorithm: str) -> str:
    """The realm's ``vmm run`` as the emulated host's shell runs it: the kernel and the
    initrd are ``$2`` and ``$4`` (vmm nested forwards them after ``-k`` and ``-i``); the
    device tree it measured comes back in the share."""
    words = [*realm_args("KERNEL", "INITRD", str(share / f"disk-{algorithm}.img"), algorithm),
             "--dtb-out", str(share / f"real-{algorithm}.dtb")]
    forwarded = {"KERNEL": '"$2"', "INITRD": '"$4"'}
    return " ".join(forwarded.get(word) or shlex.quote(word) for word in words)


def dts_diff(real: Path, predicted: Path) -> str:
    """The two device trees' source, as a unified diff."""
    import difflib

    def source(path: Path) -> list[str]:
        return subprocess.run(["dtc", "-I", "dtb", "-O", "dts", str(path)], capture_output=True,
                              text=True, timeout=60).stdout.splitlines()

    return "\n".join(difflib.unified_diff(source(real), source(predicted), "real", "predicted"))


def vmm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vmm", *args], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"}, timeout=600)


@pytest.mark.parametrize("arch", ["arm64"])
def test_realms_boot_and_attest_to_vmms_prediction(tmp_path: Path, arch: str, show) -> None:
    kit = cca_kit()
    share = tmp_path / "share"
    share.mkdir()
    initrd = tmp_path / "initrd.cpio"
    initrd.write_bytes(guest_initramfs(kit, init_script(GUEST_BODY, GUEST_MODULES),
                                       GUEST_MODULES))
    challenges = {algorithm: os.urandom(64) for algorithm in ALGORITHMS}
    for algorithm, challenge in challenges.items():
        (share / f"disk-{algorithm}.img").write_bytes(challenge.ljust(DISK_BYTES, b"\0"))
    runs = "".join(f"echo RME-E2E-REALM {algorithm}\n"
                   f"python3 -m vmm {inner_command(share, algorithm)}\n"
                   f"echo RME-E2E-EXIT {algorithm} $?\n" for algorithm in ALGORITHMS)
    run = run_nested(tmp_path, arch, "-c", runs, "sh", "-k", str(guest_kernel(kit)),
                     "-i", str(initrd), options=("--rme", "--cca-kit", str(kit), "--shell",
                                                 "--share", str(share)),
                     timeout=TIMEOUT, watch=(GUEST_UP, TOKEN_BYTES, "RME-E2E-EXIT"))
    show(f"arm64 --rme, two realms: {run.reported_timings()}; wall {run.seconds:.1f} s; "
         f"first marker, token, exit at {run.line_times}")
    assert run.returncode == 0, run.describe()
    console = run.console_log.read_text(errors="replace")
    assert RMM_BANNER in console and KVM_READY in console, run.describe()
    lines = run.stdout.splitlines()
    assert sum(GUEST_UP in line for line in lines) == len(ALGORITHMS), run.describe()
    for algorithm in ALGORITHMS:
        assert f"RME-E2E-EXIT {algorithm} 0" in lines, run.describe()
    sizes = [int(line.split("=", 1)[1]) for line in lines if line.startswith(TOKEN_BYTES)]
    assert len(sizes) == len(ALGORITHMS), run.describe()
    features = [line.removeprefix(FEATURES) for line in lines if line.startswith(FEATURES)]
    assert features and all(bits[ACCESS_PLATFORM] == "1" for bits in features), run.describe()

    for algorithm, size in zip(ALGORITHMS, sizes, strict=True):
        disk = share / f"disk-{algorithm}.img"
        token = tmp_path / f"token-{algorithm}.cbor"
        token.write_bytes(disk.read_bytes()[TOKEN_OFFSET:TOKEN_OFFSET + size])
        plan = tmp_path / f"plan-{algorithm}.json"
        dry_dtb = tmp_path / f"dry-{algorithm}.dtb"
        dry = vmm(*realm_args(str(guest_kernel(kit)), str(initrd), str(disk), algorithm),
                  "--dry-run", "--plan-out", str(plan), "--dtb-out", str(dry_dtb))
        assert dry.returncode == 0, dry.stderr
        real_dtb = share / f"real-{algorithm}.dtb"
        assert real_dtb.read_bytes() == dry_dtb.read_bytes(), (
            f"{algorithm}: the real run's device tree differs from the prediction's:\n"
            + dts_diff(real_dtb, dry_dtb))
        verified = vmm("realm", "verify", "--token", str(token), "--plan", str(plan),
                       "--realm-pv", REALM_PV, "--challenge", challenges[algorithm].hex())
        assert verified.returncode == 0, f"{algorithm}:\n{verified.stdout}{verified.stderr}"
        assert f"sha-{algorithm[3:]}" in verified.stdout
