"""Carry this machine's QEMU into the emulated x86 host, to compare it with vmm there.

The emulated x86 host (L1) runs Debian bookworm amd64 like this machine, but holds
only busybox, Python and vmm. The bundle is an uncompressed tar of QEMU's x86
emulator, every shared library it links (its dynamic loader included, so it runs
with the libraries it was built against whatever L1 has) and the x86 firmware it
loads. In L1 it is unpacked and started as
``<dir>/lib/<loader> --library-path <dir>/lib <dir>/bin/<qemu> -L <dir>/share ...``.
"""

from __future__ import annotations

import re
import subprocess
import tarfile
from pathlib import Path

from .errors import BenchError

#: Firmware QEMU's x86 machines load (microvm: qboot; pc/q35: SeaBIOS and the
#: option ROMs that boot ``-kernel``).
X86_FIRMWARE = ("bios-microvm.bin", "qboot.rom", "bios-256k.bin", "bios.bin",
                "linuxboot.bin", "linuxboot_dma.bin", "kvmvapic.bin", "pvh.bin",
                "multiboot.bin", "multiboot_dma.bin")
FIRMWARE_DIRS = (Path("/usr/share/qemu"), Path("/usr/share/seabios"))
#: ``libfoo.so.1 => /lib/x86_64-linux-gnu/libfoo.so.1 (0x...)`` or the loader's
#: ``/lib64/ld-linux-x86-64.so.2 (0x...)``.
LDD_PATH = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)")


def shared_libraries(program: Path) -> tuple[list[Path], Path]:
    """The libraries ``program`` loads and its dynamic loader, from ldd."""
    result = subprocess.run(["ldd", str(program)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise BenchError(f"ldd {program} failed: {result.stdout.strip()}")
    if "not found" in result.stdout:
        missing = [line.split()[0] for line in result.stdout.splitlines() if "not found" in line]
        raise BenchError(f"{program} lacks libraries on this machine: {', '.join(missing)}")
    paths = [Path(match) for match in LDD_PATH.findall(result.stdout)]
    loaders = [path for path in paths if path.name.startswith("ld-linux")]
    if not loaders:
        raise BenchError(f"ldd {program}: no dynamic loader found (is it static?)")
    return [path for path in paths if path not in loaders], loaders[0]


def firmware_files() -> list[Path]:
    """The x86 firmware files present on this machine (symlinks resolved later)."""
    found = {}
    for directory in FIRMWARE_DIRS:
        for name in X86_FIRMWARE:
            if name not in found and (directory / name).is_file():
                found[name] = directory / name
    if "bios-microvm.bin" not in found and "qboot.rom" not in found:
        raise BenchError("QEMU's microvm firmware (qboot.rom) is missing: reinstall "
                         "qemu-system-data")
    return list(found.values())


def write_bundle(qemu: Path, destination: Path) -> str:
    """Write the bundle tar; return the loader's name inside ``lib/``."""
    libraries, loader = shared_libraries(qemu)
    with tarfile.open(destination, "w") as bundle:
        bundle.add(str(qemu.resolve()), arcname=f"bin/{qemu.name}")
        for library in [*libraries, loader]:
            bundle.add(str(library.resolve()), arcname=f"lib/{library.name}")
        for firmware in firmware_files():
            bundle.add(str(firmware.resolve()), arcname=f"share/{firmware.name}")
    return loader.name


def launch_words(directory: str, qemu_name: str, loader: str) -> str:
    """Shell words that start the unpacked QEMU in ``directory`` (in L1)."""
    return (f"{directory}/lib/{loader} --library-path {directory}/lib "
            f"{directory}/bin/{qemu_name} -L {directory}/share")
