"""The benchmark guests: ``guest.S`` assembled with binutils into 64 KiB images.

One source, one variant per measurement (``--defsym KIND=...``). Every image runs
as it is under both VMMs: vmm loads it as a flat binary at 1000:0000, QEMU maps it
as its ``-bios`` ROM below 4 GiB (see the comment at the top of guest.S).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import BenchError
from .vmms import apt_install

SOURCE = Path(__file__).with_name("guest.S")

#: What every guest prints on the serial port before anything else.
MARKER = b"vmm-bench: ready"

#: The variants guest.S knows (the values of its KIND_* symbols).
KINDS = {"empty": 0, "pio": 1, "mmio": 2, "loop": 3}

BINUTILS = ("as", "ld", "objcopy")


@dataclass(frozen=True)
class Guest:
    """One assembled guest image."""

    name: str
    kind: str
    count: int
    image: Path


def ensure_binutils() -> None:
    """Install binutils with apt-get when as, ld or objcopy is missing."""
    if any(shutil.which(tool) is None for tool in BINUTILS):
        apt_install("binutils")
    missing = [tool for tool in BINUTILS if shutil.which(tool) is None]
    if missing:
        raise BenchError(f"{', '.join(missing)} not found: install binutils (apt-get install binutils)")


def _tool(argv: list[str]) -> None:
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        detail = (result.stdout.strip().splitlines() or ["no output"])[0]
        raise BenchError(f"{argv[0]} failed on {SOURCE.name}: {detail}")


def assemble(kind: str, count: int, directory: Path) -> Guest:
    """Assemble the ``kind`` guest repeating its exit ``count`` times, in ``directory``."""
    name = kind if kind == "empty" else f"{kind}-{count}"
    obj, elf, image = (directory / f"{name}{suffix}" for suffix in (".o", ".elf", ".bin"))
    _tool(["as", "--32", "--defsym", f"KIND={KINDS[kind]}", "--defsym", f"COUNT={count}",
           "-o", str(obj), str(SOURCE)])
    _tool(["ld", "-m", "elf_i386", "-Ttext", "0", "-e", "start", "-o", str(elf), str(obj)])
    _tool(["objcopy", "-O", "binary", str(elf), str(image)])
    return Guest(name, kind, count, image)
