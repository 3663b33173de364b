"""L2 initramfs images for the virtio boot tests: busybox, virtio modules, a script.

The L2 kernel is the emulated host's own Debian kernel; its virtio drivers are
modules, taken from the same kernel package (the nested cache has it) and loaded by
the script, dependencies first.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from vmm.core.nested.cpio import CpioWriter
from vmm.core.nested.debs import merge_usr
from vmm.core.nested.hostimage import download_packages, prepare_host
from vmm.core.nested.modules import find_module_tree
from vmm.core.nested.run import emulated_host_for

from .l2_images import busybox_program

#: Drivers per transport; virtio_mmio is the arm64/riscv default transport.
VIRTIO_MODULES = {
    "pci": ("virtio_pci", "virtio_blk", "virtio_console", "virtio_rng", "virtio_net"),
    "mmio": ("virtio_mmio", "virtio_blk", "virtio_console", "virtio_rng", "virtio_net"),
}


def _unpacked_package(arch: str, package: str, scratch: Path) -> Path:
    spec = emulated_host_for(arch)
    (deb,) = download_packages(spec, [package])
    subprocess.run(["dpkg-deb", "-x", str(deb), str(scratch)], check=True)
    merge_usr(scratch)  # bookworm's kernel ships /lib/modules, trixie's /usr/lib/modules
    return scratch


def kernel_modules(arch: str, wanted: tuple[str, ...]) -> list[tuple[str, bytes]]:
    """``(name, contents)`` of ``wanted`` and their dependencies, in load order."""
    image = prepare_host(emulated_host_for(arch))
    with tempfile.TemporaryDirectory(prefix="vmm-l2-kernel-") as scratch:
        root = _unpacked_package(arch, image.kernel_package, Path(scratch))
        tree = find_module_tree(root)
        return [(name, tree.read(name)) for name in tree.load_order(wanted)]


def kernel_module_file(arch: str, name: str, destination: Path) -> Path:
    """One module of the emulated host's kernel (e.g. ``tun`` for L1), uncompressed."""
    image = prepare_host(emulated_host_for(arch))
    with tempfile.TemporaryDirectory(prefix="vmm-l1-kernel-") as scratch:
        root = _unpacked_package(arch, image.kernel_package, Path(scratch))
        tree = find_module_tree(root)
        if name in tree.builtin:
            destination.write_bytes(b"")
        else:
            destination.write_bytes(tree.read(name))
    return destination


def virtio_initramfs(arch: str, transport: str, body: str, destination: Path, *,
                     prelude: str = "", programs: Mapping[str, Path] | None = None) -> Path:
    """A busybox initramfs whose /init loads the virtio drivers then runs ``body``.

    ``prelude`` runs before the drivers load (e.g. to print a boot marker);
    ``programs`` maps names to executables added to ``/bin``.
    """
    spec = emulated_host_for(arch)
    modules = kernel_modules(arch, VIRTIO_MODULES[transport])
    (deb,) = download_packages(spec, [spec.busybox_package])
    loads = "".join(f"/bin/busybox insmod /lib/modules/{name}.ko\n" for name, _ in modules)
    init = (
        "#!/bin/busybox sh\n"
        "/bin/busybox --install -s /bin\n"
        "export PATH=/bin\n"
        "mount -t proc proc /proc\n"
        "mount -t sysfs sysfs /sys\n"
        "mount -t devtmpfs devtmpfs /dev\n"
        + prelude
        + loads
        + "sleep 1\n"
        + body
    )
    with tempfile.TemporaryDirectory(prefix="vmm-l2-busybox-") as scratch:
        subprocess.run(["dpkg-deb", "-x", str(deb), scratch], check=True)
        busybox = busybox_program(Path(scratch))
        with open(destination, "wb") as stream:
            writer = CpioWriter(stream)
            for directory in ("bin", "dev", "proc", "sys", "lib", "lib/modules"):
                writer.add_directory(directory)
            writer.add_char_device("dev/console", 5, 1)
            writer.add_file("bin/busybox", busybox, 0o755)
            for name, program in (programs or {}).items():
                writer.add_file(f"bin/{name}", program, 0o755)
            for name, data in modules:
                writer.add_bytes(f"lib/modules/{name}.ko", data, 0o644)
            writer.add_bytes("init", init.encode(), 0o755)
            writer.close()
    return destination
