"""Precompile the emulated host's Python modules here, so L1 compiles nothing.

Compiling under TCG is what made an L1 ``vmm --version`` take tens of seconds.
When this machine's Python has the target's version, it writes the .pyc files
itself; otherwise the target's own interpreter does, run here through QEMU's
user-mode emulator. Either way the files are unchecked-hash .pyc files: L1
loads them without looking at the sources' timestamps (which the initramfs does
not keep) and their code objects name the files as L1 sees them.
"""

from __future__ import annotations

import compileall
import os
import py_compile
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from vmm.core.nested.errors import PackageError
from vmm.core.nested.qemu import Qemu

#: Part of the cache keys of everything precompiled: bump when the .pyc files
#: change (how or where they are written).
PRECOMPILE_FORMAT = "3"
#: compileall's exit status when some file did not compile (the rest did).
SOME_FILES_FAILED = 1


@dataclass(frozen=True)
class TargetPython:
    """The target's interpreter, run on this machine by QEMU's user-mode emulator."""

    emulator: Qemu
    #: A tree holding the target's loader, libraries and ``usr/bin/pythonX.Y``.
    sysroot: Path
    version: str

    def command(self) -> list[str]:
        """The command line starting the target's Python here."""
        return [str(self.emulator.binary), "-L", str(self.sysroot),
                str(self.sysroot / "usr" / "bin" / f"python{self.version}")]

    def environment(self) -> dict[str, str]:
        """This environment without Python settings meant for the host's interpreter."""
        clean = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        return {**clean, **self.emulator.env}


def host_python_version() -> str:
    """This machine's Python version as ``major.minor``."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _python_files(tree: Path) -> list[str]:
    return sorted(str(p) for p in tree.rglob("*.py") if p.is_file())


def _compile_with_target(root: Path, tree: Path, target: TargetPython) -> None:
    """Compile ``tree`` with the target's Python, one emulator process per CPU."""
    files = _python_files(tree)
    if not files:
        return
    workers = max(1, min(os.cpu_count() or 1, len(files)))
    # -B and -f: the interpreter's own imports must not leave timestamp .pyc files
    # that compileall would then take as up to date.
    command = [*target.command(), "-B", "-m", "compileall", "-f", "-qq", "--invalidation-mode",
               "unchecked-hash", "-s", str(root), "-p", "/", "-i"]
    failures: list[str] = []
    running: list[tuple[IO[bytes], subprocess.Popen[bytes]]] = []
    with tempfile.TemporaryDirectory(prefix="vmm-nested-pyc-") as scratch:
        try:
            for index in range(workers):
                listing = Path(scratch) / f"files-{index}"
                listing.write_text("\n".join(files[index::workers]) + "\n")
                errors: IO[bytes] = open(Path(scratch) / f"errors-{index}", "w+b")
                try:
                    process = subprocess.Popen(
                        [*command, str(listing)], stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL, stderr=errors, env=target.environment())
                except OSError as error:
                    errors.close()
                    failures.append(error.strerror or str(error))
                    break
                running.append((errors, process))
            for errors, process in running:
                process.wait()
                errors.seek(0)
                if process.returncode not in (0, SOME_FILES_FAILED):
                    lines = errors.read().decode(errors="replace").strip().splitlines()
                    failures.append(lines[-1] if lines else f"exit status {process.returncode}")
        finally:
            for errors, process in running:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                errors.close()
    if failures:
        raise PackageError(
            f"cannot run the target's Python {target.version} under "
            f"{target.emulator.binary.name}: {failures[0]}"
        )


def precompile(root: Path, tree: Path, python_version: str,
               target: Callable[[], TargetPython] | None = None) -> None:
    """Write .pyc files for the modules under ``tree`` (inside the future ``/`` at
    ``root``), for Python ``python_version``.

    This machine's Python does it when it has that version; otherwise ``target``
    gives the target's interpreter (only called then); without it, nothing is
    compiled and L1 compiles what it imports.
    """
    if python_version == host_python_version():
        compileall.compile_dir(
            str(tree), quiet=2, workers=0, stripdir=str(root), prependdir="/",
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
    elif target is not None:
        _compile_with_target(root, tree, target())


__all__ = ["PRECOMPILE_FORMAT", "TargetPython", "host_python_version", "precompile"]
