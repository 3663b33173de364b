"""Find QEMU for the emulated host: Debian backports' QEMU 10 unpacked in the cache
(with whichever of its libraries this machine lacks), else the system's QEMU.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from vmm.core.nested import cache
from vmm.core.nested.apt import SYSTEM_STATUS, PrivateApt, find_debian_mirror, require_tool
from vmm.core.nested.debs import relativize_symlinks, unpack_debs
from vmm.core.nested.errors import MissingToolError, PackageError
from vmm.core.nested.progress import progress
from vmm.core.nested.spec import EmulatedHost

#: Debian package with QEMU's user-mode emulators (``qemu-riscv64``...), taken
#: from this machine's own suite: a small download next to backports' static build.
QEMU_USER_PACKAGE = "qemu-user"
#: Where Debian's QEMU looks for firmware (its build's firmware path), in order.
FIRMWARE_DIRS = ("usr/share/qemu", "usr/share/seabios", "usr/lib/ipxe/qemu")


@dataclass(frozen=True)
class Qemu:
    """A runnable QEMU system emulator and the environment it needs."""

    binary: Path
    env: dict[str, str] = field(default_factory=dict)
    data_dirs: tuple[Path, ...] = ()

    def command(self) -> list[str]:
        """The program and the options pointing it at its own firmware files."""
        return [str(self.binary)] + [arg for d in self.data_dirs for arg in ("-L", str(d))]

    def version(self) -> str:
        """The first line of ``qemu --version``; raises if it cannot start."""
        result = subprocess.run(
            [str(self.binary), "--version"], env={**os.environ, **self.env},
            capture_output=True, text=True,
            stdin=subprocess.DEVNULL,
        )
        if result.returncode != 0:
            reason = (result.stderr.strip().splitlines() or ["does not start"])[-1]
            raise PackageError(f"{self.binary.name} does not run here: {reason}")
        return result.stdout.splitlines()[0]


def host_arch() -> str:
    """This machine's Debian architecture name."""
    dpkg = require_tool("dpkg", "dpkg")
    result = subprocess.run([dpkg, "--print-architecture"], stdout=subprocess.PIPE,
                            text=True, stdin=subprocess.DEVNULL)
    return result.stdout.strip() or "amd64"


def _unpacked_qemu(root: Path, binary: str) -> Qemu:
    library_dirs = [
        str(d) for pattern in ("usr/lib/*-linux-gnu", "lib/*-linux-gnu", "usr/lib")
        for d in sorted(root.glob(pattern)) if d.is_dir()
    ]
    env = {"LD_LIBRARY_PATH": ":".join(library_dirs)}
    module_dirs = sorted(root.glob("usr/lib/*-linux-gnu/qemu"))
    if module_dirs:
        env["QEMU_MODULE_DIR"] = str(module_dirs[0])
    data_dirs = tuple(root / d for d in FIRMWARE_DIRS if (root / d).is_dir())
    return Qemu(root / "usr" / "bin" / binary, env, data_dirs)


def _download_host_packages(packages: tuple[str, ...], root: Path,
                            from_backports: bool) -> None:
    """Unpack ``packages`` of this machine's architecture (and the libraries this
    machine lacks) into ``root``: from backports, or from the system's own suite."""
    mirror = find_debian_mirror()
    backports = f"{mirror.system_suite}-backports"
    arch = host_arch()
    apt = PrivateApt(cache.cache_root() / "apt" / f"host-{arch}", mirror,
                     (mirror.system_suite, backports), arch, installed_status=SYSTEM_STATUS)
    files = apt.resolve(list(packages), with_dependencies=True,
                        release=backports if from_backports else None)
    debs = apt.download(files, cache.cache_root() / "debs" / arch)
    with cache.building(root) as work:
        unpack_debs(debs, work)
        relativize_symlinks(work)


def find_qemu(spec: EmulatedHost) -> Qemu:
    """QEMU for ``spec``: from the cache, downloaded, or the system's."""
    root = cache.cache_root() / "qemu" / cache.digest_text(*spec.qemu_packages)
    with cache.locked(root.parent):
        if not (root / "usr" / "bin" / spec.qemu_binary).is_file():
            try:
                progress(f"fetching QEMU ({', '.join(spec.qemu_packages)}) from backports")
                _download_host_packages(spec.qemu_packages, root, from_backports=True)
            except PackageError as error:
                system = shutil.which(spec.qemu_binary)
                if not system:
                    raise PackageError(
                        f"{error}; or install the system's QEMU: "
                        f"apt-get install {spec.qemu_packages[0]}"
                    ) from error
                return Qemu(Path(system))
    qemu = _unpacked_qemu(root, spec.qemu_binary)
    if not qemu.binary.is_file():
        system = shutil.which(spec.qemu_binary)
        if not system:
            raise MissingToolError(spec.qemu_binary, spec.qemu_packages[0])
        return Qemu(Path(system))
    return qemu


def find_qemu_user(spec: EmulatedHost) -> Qemu:
    """QEMU's user-mode emulator for ``spec``'s CPU: from the cache, downloaded, or
    the system's; raises :class:`PackageError` when none can be had."""
    root = cache.cache_root() / "qemu" / cache.digest_text(QEMU_USER_PACKAGE)
    binary = spec.qemu_user_binary
    with cache.locked(root.parent):
        if not (root / "usr" / "bin" / binary).is_file():
            progress(f"fetching {QEMU_USER_PACKAGE} (to precompile the host's Python)")
            try:
                _download_host_packages((QEMU_USER_PACKAGE,), root, from_backports=False)
            except PackageError:
                system = shutil.which(binary)
                if not system:
                    raise
                return Qemu(Path(system))
    qemu = _unpacked_qemu(root, binary)
    if not qemu.binary.is_file():
        raise PackageError(f"{QEMU_USER_PACKAGE} has no {binary}")
    return qemu
