"""Realm guests for the Arm CCA host kit: initramfs images for its Debian guest kernel.

The kit (``../shared/cca``, see ``vmm.plugins.arm64_realm.kit``) has the guest kernel
``guest/vmlinuz`` with its modules and a static arm64 busybox; an initramfs here is
busybox, the modules a test names (decompressed: busybox's insmod takes plain .ko
files) and an ``/init`` script, written uncompressed so that the same inputs give
the same bytes (a measured initrd must not change under a recorded token).
"""

from __future__ import annotations

import io
import lzma
from pathlib import Path

from vmm.core.nested.cpio import CpioWriter
from vmm.core.testing import skip_or_fail
from vmm.plugins.arm64_realm.kit import GUEST_KERNEL, GUEST_MODULES, find_kit

#: The kit's static arm64 busybox (Debian busybox-static 1.35, the host's own).
BUSYBOX = Path("host/initramfs/busybox")
#: The guest kernel's modules by name, relative to ``guest/modules/kernel``.
MODULE_FILES = {
    "configfs": "fs/configfs/configfs.ko.xz",
    "tsm_report": "drivers/virt/coco/guest/tsm_report.ko.xz",
    "arm-cca-guest": "drivers/virt/coco/arm-cca-guest/arm-cca-guest.ko.xz",
    "virtio_mmio": "drivers/virtio/virtio_mmio.ko.xz",
    "virtio_blk": "drivers/block/virtio_blk.ko.xz",
}
#: What reading an attestation token needs, in load order.
ATTESTATION_MODULES = ("configfs", "tsm_report", "arm-cca-guest")
#: The configfs-tsm report directory the init scripts use.
REPORT_DIR = "/sys/kernel/config/tsm/report/vmm"


def cca_kit() -> Path:
    """The kit the tests use, or skip (fail in CI) without one."""
    from vmm.core.errors import ConfigError

    try:
        return find_kit()
    except ConfigError as error:
        skip_or_fail(str(error))
        raise


def guest_kernel(kit: Path) -> Path:
    """The kit's Debian realm guest kernel."""
    return kit / GUEST_KERNEL


def guest_initramfs(kit: Path, init: str, modules: tuple[str, ...] = ATTESTATION_MODULES,
                    files: dict[str, bytes] | None = None) -> bytes:
    """An uncompressed initramfs: busybox, ``modules`` in /lib/modules, ``/init``
    (a busybox shell script) and ``files`` (name -> contents)."""
    stream = io.BytesIO()
    writer = CpioWriter(stream)
    writer.add_directory("dev")
    writer.add_char_device("dev/console", 5, 1)
    for directory in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "proc", "sys", "tmp",
                      "lib", "lib/modules"):
        writer.add_directory(directory)
    writer.add_file("bin/busybox", kit / BUSYBOX, 0o755)
    writer.add_bytes("init", init.encode(), 0o755)
    for name in modules:
        packed = (kit / GUEST_MODULES / "kernel" / MODULE_FILES[name]).read_bytes()
        writer.add_bytes(f"lib/modules/{name}.ko", lzma.decompress(packed))
    for name, contents in (files or {}).items():
        writer.add_bytes(name, contents)
    writer.close()
    return stream.getvalue()


def init_script(body: str, modules: tuple[str, ...] = ATTESTATION_MODULES) -> str:
    """A guest ``/init``: mount the kernel's file systems, load ``modules``, run
    ``body`` (busybox sh), then power off."""
    loads = " ".join(modules)
    return f"""#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in {loads}; do insmod /lib/modules/$m.ko || echo "GUEST: insmod $m failed"; done
mount -t configfs configfs /sys/kernel/config
{body}
poweroff -f
"""
