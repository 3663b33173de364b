"""Images for L2 guests: the emulated host's own Debian kernel and a tiny busybox
initramfs whose /init prints a marker and powers the guest off."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from vmm.core.nested.cpio import CpioWriter
from vmm.core.nested.hostimage import download_packages, prepare_host
from vmm.core.nested.run import emulated_host_for

#: What the L2 guest's /init prints once it runs.
L2_MARKER = "L2-INIT-REACHED"
#: How each L2 guest ends itself: an x86 guest without ACPI cannot power off,
#: so it resets (the vmm ends the VM on reset); the others power off (PSCI, SBI).
POWER_OFF = {"x86": "reboot -f", "arm64": "poweroff -f", "riscv": "poweroff -f"}


def l2_kernel(arch: str) -> Path:
    """The same Debian kernel as L1's, for an L2 guest of ``arch``."""
    return prepare_host(emulated_host_for(arch)).kernel


#: Where busybox-static puts the program (bookworm, then merged-/usr trixie); the
#: package has other files named busybox (initramfs-tools hooks).
BUSYBOX_PATHS = ("bin/busybox", "usr/bin/busybox")


def busybox_program(unpacked: Path) -> Path:
    """The busybox executable in an unpacked busybox-static package."""
    for relative in BUSYBOX_PATHS:
        if (unpacked / relative).is_file():
            return unpacked / relative
    raise FileNotFoundError(f"busybox-static has none of {', '.join(BUSYBOX_PATHS)}")


def l2_initramfs(arch: str, destination: Path, report: str = "") -> Path:
    """Write a busybox initramfs for ``arch`` to ``destination`` and return it.

    ``report`` is shell text /init appends to the marker line (e.g. a CPU count).
    """
    spec = emulated_host_for(arch)
    (deb,) = download_packages(spec, [spec.busybox_package])
    init = (
        "#!/bin/busybox sh\n"
        "/bin/busybox mount -t proc proc /proc\n"
        f"/bin/busybox echo {L2_MARKER}{report}\n"
        f"/bin/busybox {POWER_OFF[arch]}\n"
    )
    with tempfile.TemporaryDirectory(prefix="vmm-l2-busybox-") as scratch:
        subprocess.run(["dpkg-deb", "-x", str(deb), scratch], check=True)
        busybox = busybox_program(Path(scratch))
        with open(destination, "wb") as stream:
            writer = CpioWriter(stream)
            for directory in ("bin", "dev", "proc", "sys"):
                writer.add_directory(directory)
            writer.add_char_device("dev/console", 5, 1)
            writer.add_file("bin/busybox", busybox, 0o755)
            writer.add_bytes("init", init.encode(), 0o755)
            writer.close()
    return destination
