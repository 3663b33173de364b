"""Firmware-booted emulated hosts: a payload share instead of an initramfs.

Such a host (:class:`~vmm.core.nested.spec.FirmwareBoot`) boots its own kernel,
whose init mounts a 9p share and runs the ``init`` it finds there. vmm gives it
two shares:

- the *tree*: the same Debian Python, packages, vmm sources and cffi modules as
  the architecture's Debian-kernel host, unpacked once from that host's cached
  initramfs parts (``<arch>/tree-<key>/`` in the cache) and exported read-only;
- the *payload*: a per-run directory with the ``init`` that mounts the tree,
  makes its programs runnable from the host's own busybox root, and runs the inner
  command between the usual markers, and the forwarded files (hard links when
  possible: the share is read-only, so L1 can't change the originals).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from vmm.core.nested import cache
from vmm.core.nested.cpio import extract
from vmm.core.nested.debs import relativize_symlinks
from vmm.core.nested.forwarding import FILES_DIR, ForwardPlan
from vmm.core.nested.hostimage import HostImage
from vmm.core.nested.initscript import HOME, run_section
from vmm.core.nested.progress import progress
from vmm.core.nested.shares import RESERVED, Share
from vmm.core.nested.spec import FirmwareBoot

#: The tree's 9p mount tag, and where the payload's init mounts it.
TREE_TAG = "vmmtree"
TREE_MOUNT = "/nested/tree"
#: Top-level parts of the initramfs a firmware host has no use for: the Debian
#: kernel's modules and the device nodes.
TREE_SKIPPED = ("nested", "dev")


@contextlib.contextmanager
def tree_in_use(image: HostImage) -> Iterator[Path]:
    """The unpacked userland of ``image``, built once next to its archives, and kept
    (not pruned by another run's build) until the context ends."""
    key = cache.digest_text(image.base_archive.parent.name, image.project_archive.name)
    tree = image.project_archive.parent / f"tree-{key}"
    with contextlib.ExitStack() as stack:
        with cache.locked(tree.parent):
            if not tree.is_dir():
                progress("unpacking the host's Python and vmm for its firmware-booted variant")
                with cache.building(tree) as work:
                    for archive in (image.base_archive, image.project_archive):
                        extract(archive, work, skip=TREE_SKIPPED)
                    relativize_symlinks(work)
                cache.prune_siblings(tree, "tree-*")
            stack.enter_context(cache.in_use(tree))
        yield tree


def reserved_paths(boot: FirmwareBoot) -> frozenset[str]:
    """Directories a ``--share`` must not hide on this host."""
    return RESERVED | {boot.payload_mount}


def payload_init(args: list[str], program: tuple[str, ...], boot: FirmwareBoot,
                 mounts: tuple[str, ...]) -> str:
    """The payload's ``init``: put the tree to use, then run ``program args...``."""
    tree = Share(Path(TREE_MOUNT), TREE_TAG, readonly=True)
    return f"""#!/bin/sh
# vmm nested: run by the firmware-booted host's own init, with this directory on
# {boot.payload_mount}; the host powers off when it returns.
{tree.mount_command(options="ro,cache=loose")}
[ -e /lib ] || ln -s {TREE_MOUNT}/usr/lib /lib
ln -s {boot.payload_mount}/files {FILES_DIR}
cp -a {TREE_MOUNT}{HOME}/. {HOME}/
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:{TREE_MOUNT}/usr/bin HOME={HOME} LANG=C.UTF-8
{run_section(args, program, mounts)}"""


def write_payload(directory: Path, plan: ForwardPlan, program: tuple[str, ...],
                  boot: FirmwareBoot, mounts: tuple[str, ...]) -> None:
    """Fill the per-run payload directory: ``init`` and the forwarded files."""
    directory.mkdir()
    init = directory / "init"
    init.write_text(payload_init(plan.args, program, boot, mounts))
    init.chmod(0o755)
    for source, target in plan.files.items():
        copy = directory / "files" / Path(target).relative_to(FILES_DIR)
        copy.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, copy)
        except OSError:
            shutil.copyfile(source, copy)


def firmware_args(boot: FirmwareBoot, tree: Path, payload: Path, device: str) -> list[str]:
    """QEMU's arguments that boot the firmware with the tree and payload shares."""
    return [
        "-bios", str(boot.firmware),
        *Share(tree, TREE_TAG, readonly=True).qemu_args(device),
        *Share(payload, boot.payload_tag, readonly=True).qemu_args(device),
    ]


__all__ = ["TREE_MOUNT", "TREE_TAG", "firmware_args", "reserved_paths", "tree_in_use",
           "write_payload"]
