"""Build (once, then from the cache) the emulated host's kernel and initramfs.

The initramfs is three archives joined: a large ``base`` (busybox, Debian's
Python, kernel modules, third-party packages) keyed by the .deb files and
package versions it holds, a small ``project`` part (this vmm's sources and its
FFIs' generated cffi modules) keyed by their hash and the target's Python and
cffi packages, and a per-run part (``/init`` and forwarded files) written by the
runner.
"""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import Distribution
from pathlib import Path

from vmm.core.nested import cache, ffimodules, pydeps
from vmm.core.nested.apt import DebianMirror, PrivateApt, find_debian_mirror
from vmm.core.nested.cpio import CpioWriter
from vmm.core.nested.debs import merge_usr, unpack_debs
from vmm.core.nested.errors import PackageError
from vmm.core.nested.modules import find_module_tree
from vmm.core.nested.progress import progress
from vmm.core.nested.pycompile import PRECOMPILE_FORMAT, TargetPython, precompile
from vmm.core.nested.qemu import find_qemu_user
from vmm.core.nested.spec import EmulatedHost

#: Debian packages every emulated host carries besides busybox, so that a
#: third-party harness (kvm-unit-tests' run_tests.sh) runs in it unchanged: its
#: scripts are bash (process substitution needs /dev/fd, which /init links) and
#: use GNU coreutils (timeout, mktemp, nproc) and getconf (libc-bin). The packages
#: are taken as listed (no dependency resolution): each one's libraries beyond
#: libc6 are listed too.
SHELL_PACKAGES = ("bash", "libtinfo6", "coreutils", "libacl1", "libattr1", "libgmp10",
                  "libselinux1", "libpcre2-8-0", "libc-bin")
#: Parts of the unpacked packages the emulated host never uses.
DROPPED_PATHS = ("usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/lintian",
                 "usr/lib/modules", "boot", "etc/kernel")


@dataclass(frozen=True)
class HostImage:
    """A built emulated host: kernel, cached initramfs parts and module lists."""

    kernel: Path
    kernel_package: str
    base_archive: Path
    project_archive: Path
    kvm_modules: tuple[str, ...]
    disk_modules: tuple[str, ...]
    share_modules: tuple[str, ...]


def _target_apt(spec: EmulatedHost, mirror: DebianMirror) -> PrivateApt:
    key = f"{spec.debian_arch}-{'-'.join(spec.debian_suites)}"
    return PrivateApt(cache.cache_root() / "apt" / key, mirror, spec.debian_suites,
                      spec.debian_arch)


def download_packages(spec: EmulatedHost, names: list[str]) -> list[Path]:
    """Fetch (once) Debian packages of the emulated host's architecture and suites."""
    apt = _target_apt(spec, find_debian_mirror())
    return apt.download(apt.resolve(names), cache.cache_root() / "debs" / spec.debian_arch)


def _debian_packages(spec: EmulatedHost, directory: Path) -> tuple[str, list[Path]]:
    """The kernel package's name and every .deb of the host (downloaded if needed).

    The resolved list is remembered so that a warm cache needs no apt call.
    """
    manifest = directory / "packages.json"
    wanted = [spec.busybox_package, *SHELL_PACKAGES, *spec.python_packages,
              *pydeps.DEBIAN_PACKAGES, *spec.helper_packages]
    fingerprint = cache.digest_text(repr((spec, wanted)))  # a package added: resolve again
    if manifest.is_file():
        saved = json.loads(manifest.read_text())
        paths = [Path(p) for p in saved["debs"]]
        if saved["spec"] == fingerprint and all(p.is_file() for p in paths):
            return saved["kernel"], paths
    apt = _target_apt(spec, find_debian_mirror())
    kernel = apt.newest_matching(spec.kernel_package_pattern)
    files = apt.resolve([kernel, *wanted])
    paths = apt.download(files, cache.cache_root() / "debs" / spec.debian_arch)
    directory.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps(
        {"spec": fingerprint, "kernel": kernel, "debs": [str(p) for p in paths]}))
    return kernel, paths


def _python_distributions(spec: EmulatedHost) -> tuple[list[Distribution], list[Path]]:
    """Host distributions to copy, and target wheels for the compiled ones."""
    dists = pydeps.host_distributions(pydeps.project_requirements())
    wheels = [
        pydeps.fetch_wheel(d.metadata["Name"], d.version, spec.python_version,
                           spec.wheel_platforms, cache.cache_root() / "wheels")
        for d in dists if pydeps.is_compiled(d)
    ]
    return dists, wheels


def _build_base(spec: EmulatedHost, debs: list[Path], dists: list[Distribution], wheels: list[Path],
                output: Path) -> None:
    """Unpack, trim and archive the base part; keep the kernel and module lists."""
    output.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="vmm-nested-root-") as scratch:
        root = Path(scratch)
        progress(f"unpacking {len(debs)} Debian packages for {spec.arch}")
        unpack_debs(debs, root)
        merge_usr(root)
        kernels = sorted((root / "boot").glob("vmlinu*"))
        if not kernels:
            raise PackageError("the kernel package has no /boot/vmlinuz")
        shutil.copyfile(kernels[-1], output / "kernel")
        tree = find_module_tree(root)
        lists = {kind: tree.load_order(wanted) for kind, wanted in (
            ("kvm", spec.kvm_modules), ("disk", spec.disk_modules),
            ("share", spec.share_modules))}
        for name in dict.fromkeys(name for names in lists.values() for name in names):
            tree.extract(name, root / "nested" / "modules")
        (output / "modules.json").write_text(json.dumps(lists))
        for dropped in DROPPED_PATHS:
            shutil.rmtree(root / dropped, ignore_errors=True)
        site = root / pydeps.SITE_DIR
        for dist in dists:
            if not pydeps.is_compiled(dist):
                pydeps.copy_distribution(dist, site)
        for wheel in wheels:
            pydeps.install_wheel(wheel, site)
        python = root / "usr" / "bin" / "python3"
        if not python.exists():
            python.symlink_to(f"python{spec.python_version}")
        progress("precompiling Python modules")
        precompile(root, root / "usr" / "lib", spec.python_version,
                   lambda: TargetPython(find_qemu_user(spec), root, spec.python_version))
        progress("writing the base initramfs")
        with open(output / "base.cpio", "wb") as stream:
            writer = CpioWriter(stream)
            writer.add_directory("dev")
            writer.add_char_device("dev/console", 5, 1)
            for name in ("proc", "sys", "tmp", "root", "mnt", "run"):
                writer.add_directory(name)
            writer.add_tree(root)
            writer.close()


def _debs_of(debs: list[Path], names: tuple[str, ...]) -> list[Path]:
    """The .deb files (named ``<package>_<version>_<arch>.deb``) of ``names``."""
    return [deb for deb in debs if deb.name.split("_", 1)[0] in names]


def _build_project(spec: EmulatedHost, target_debs: list[Path], output: Path) -> None:
    """Build the project archive for ``spec``'s host.

    ``target_debs`` make up the target's Python and cffi, unpacked (once) when
    needed: to generate the cffi modules, and to compile .pyc files when this
    machine's Python has another version.
    """
    with tempfile.TemporaryDirectory(prefix="vmm-nested-sysroot-") as scratch:
        @functools.cache
        def target_python() -> TargetPython:
            sysroot = Path(scratch)
            unpack_debs(target_debs, sysroot)
            merge_usr(sysroot)
            return TargetPython(find_qemu_user(spec), sysroot, spec.python_version)

        build_project_archive(output, spec.python_version, target_python)


def build_project_archive(output: Path, python_version: str,
                          target: Callable[[], TargetPython]) -> None:
    """Archive this vmm's sources (with a dist-info naming its plugins) and its
    FFIs' modules generated by ``target``'s cffi, precompiled for ``python_version``."""
    with tempfile.TemporaryDirectory(prefix="vmm-nested-project-") as scratch:
        root = Path(scratch)
        site = root / pydeps.SITE_DIR
        pydeps.install_project(site, root / "usr" / "bin")
        ffimodules.generate(root, site, target())
        precompile(root, root, python_version, target)
        with open(output, "wb") as stream:
            writer = CpioWriter(stream)
            writer.add_tree(root)
            writer.close()


def prepare_host(spec: EmulatedHost) -> HostImage:
    """Return the emulated host's image, downloading and building what is missing."""
    directory = cache.cache_root() / spec.arch
    with cache.locked(directory):
        kernel_package, debs = _debian_packages(spec, directory)
        dists, wheels = _python_distributions(spec)
        base_key = cache.digest_text(
            repr(spec), PRECOMPILE_FORMAT, *(p.name for p in debs), *(p.name for p in wheels),
            *(f"{d.metadata['Name']}={d.version}" for d in dists),
        )
        base = directory / f"base-{base_key}"
        if not (base / "base.cpio").is_file():
            with cache.building(base) as work:
                _build_base(spec, debs, dists, wheels, work)
            cache.prune_siblings(base, "base-*")
        sources = cache.project_source_files()
        target_debs = _debs_of(debs, (*spec.python_packages, *pydeps.DEBIAN_PACKAGES))
        project_key = cache.digest_text(  # entry points: the launchers in usr/bin
            spec.python_version, PRECOMPILE_FORMAT, *(p.name for p in target_debs),
            pydeps.project_metadata()[1],
            cache.digest_files(sources, cache.package_dir()))
        project = directory / f"project-{project_key}.cpio"
        if not project.is_file():
            progress("packing this vmm's sources and generating its cffi modules")
            with cache.building(project) as work:
                _build_project(spec, target_debs, work)
            cache.prune_siblings(project, "project-*.cpio")
        modules = json.loads((base / "modules.json").read_text())
        return HostImage(
            kernel=base / "kernel", kernel_package=kernel_package,
            base_archive=base / "base.cpio", project_archive=project,
            kvm_modules=tuple(modules["kvm"]), disk_modules=tuple(modules["disk"]),
            share_modules=tuple(modules["share"]),
        )


__all__ = ["HostImage", "build_project_archive", "download_packages", "prepare_host"]
