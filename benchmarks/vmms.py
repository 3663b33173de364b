"""The two VMMs compared: how to find them and the command line for each guest."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BenchError

QEMU_BINARY = "qemu-system-x86_64"
QEMU_PACKAGE = "qemu-system-x86"
#: The host's CPU without IA32_ARCH_CAPABILITIES: this machine's PVM /dev/kvm refuses
#: that MSR (0x10a) and QEMU 7.2 then aborts before the guest's first instruction.
#: The guests measured here never read it.
QEMU_CPU = "host,-arch-capabilities"
#: The port of QEMU's isa-debug-exit device (guest.S writes 0 there: status 1).
DEBUG_EXIT_PORT = 0xF4
#: QEMU's exit status when the guest writes 0 to isa-debug-exit ((0 << 1) | 1).
QEMU_GUEST_EXIT_STATUS = 1
#: The smallest x86 machine QEMU has, stripped of every device the guest won't use.
QEMU_MICROVM = "microvm,x-option-roms=off,pit=off,pic=off,isa-serial=on,rtc=off"


@dataclass(frozen=True)
class Vmm:
    """A VMM under test: its command prefix and how it runs a guest image."""

    name: str
    program: tuple[str, ...]
    guest_args: tuple[str, ...]
    image_flag: str
    #: Exit status of a run whose guest shut down as guest.S does.
    ok_status: int
    env: dict[str, str] = field(default_factory=dict)

    def guest_command(self, image: Path, mem_mib: int) -> list[str]:
        """The command line that boots ``image`` with ``mem_mib`` MiB of RAM."""
        return [*self.program, *self.guest_args, "-m", str(mem_mib), self.image_flag, str(image)]

    def command(self, *args: str) -> list[str]:
        return [*self.program, *args]

    def environment(self) -> dict[str, str]:
        return {**os.environ, **self.env}


def find_vmm(override: str | None = None) -> Vmm:
    """vmm's console script next to this Python (the venv's), else on PATH.

    The script is run directly, never through a shim (pyenv's shims add ~100 ms).
    """
    if override:
        program: tuple[str, ...] = tuple(override.split())
    else:
        beside = Path(sys.executable).with_name("vmm")
        found = shutil.which("vmm")
        if beside.exists():
            program = (str(beside),)
        elif found:
            program = (found,)
        else:
            program = (sys.executable, "-m", "vmm")
    return Vmm("vmm", program, ("run", "--arch", "x86", "--flat"), "-k", ok_status=0)


def find_qemu(install: bool = True) -> Vmm:
    """QEMU's x86 system emulator, installed from Debian with apt-get if missing."""
    binary = shutil.which(QEMU_BINARY)
    if binary is None and install:
        apt_install(QEMU_PACKAGE)
        binary = shutil.which(QEMU_BINARY)
    if binary is None:
        raise BenchError(f"{QEMU_BINARY} not found: install Debian's {QEMU_PACKAGE} "
                         f"(apt-get install {QEMU_PACKAGE})")
    args = ("-M", QEMU_MICROVM, "-accel", "kvm", "-cpu", QEMU_CPU, "-nodefaults",
            "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot",
            "-device", f"isa-debug-exit,iobase={DEBUG_EXIT_PORT:#x},iosize=1")
    return Vmm("QEMU", (binary,), args, "-bios", ok_status=QEMU_GUEST_EXIT_STATUS)


def apt_install(package: str) -> None:
    """Install one Debian package (the suite's only ones: QEMU, binutils)."""
    if os.geteuid() != 0:
        raise BenchError(f"{package} is not installed and installing it needs root: "
                         f"run 'sudo apt-get install {package}' first")
    print(f"installing {package} with apt-get ...", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"],
                 ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package]):
        result = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0:
            last = (result.stdout.strip().splitlines() or ["no output"])[-1]
            raise BenchError(f"{' '.join(argv[:2])} {package} failed: {last}")


def qemu_version(qemu: Vmm) -> str:
    """QEMU's version line, for the report."""
    result = subprocess.run([*qemu.program, "--version"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, stdin=subprocess.DEVNULL)
    return (result.stdout.splitlines() or ["unknown version"])[0]
