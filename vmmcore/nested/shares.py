"""Directories of this machine shown at the same path inside the emulated host.

``vmm nested --share DIR`` exports DIR read-write over virtio-9p; the emulated
host mounts it at DIR itself, so paths mean the same on both sides and files
written there come back.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from vmm.core.errors import ConfigError

#: Options of every 9p mount in the emulated host (512 KB messages: large reads
#: and writes take few round trips, which cost exits under TCG).
MOUNT_OPTIONS = "trans=virtio,version=9p2000.L,msize=512000"
#: Directories of the emulated host's own that a share must not hide.
RESERVED = frozenset({"/", "/bin", "/dev", "/etc", "/lib", "/nested", "/proc", "/root",
                      "/sbin", "/sys", "/usr"})


@dataclass(frozen=True)
class Share:
    """A directory exported to the emulated host under a 9p mount tag."""

    path: Path
    tag: str
    readonly: bool = False

    def qemu_args(self, device: str) -> list[str]:
        """QEMU's ``-fsdev``/``-device`` pair for this share (commas in the path doubled)."""
        path = str(self.path).replace(",", ",,")
        fsdev = f"local,id={self.tag},path={path},security_model=none"
        if self.readonly:
            fsdev += ",readonly=on"
        return ["-fsdev", fsdev, "-device", f"{device},fsdev={self.tag},mount_tag={self.tag}"]

    def mount_command(self, where: str | None = None, options: str = "") -> str:
        """The emulated host's shell command that mounts it (at its own path by default)."""
        target = where or str(self.path)
        extra = f",{options}" if options else ""
        quoted = shlex.quote(target)
        return (f"mkdir -p {quoted} && mount -t 9p -o {MOUNT_OPTIONS}{extra} {self.tag} {quoted}"
                f" || echo \"vmm nested: cannot mount {self.tag} on {target}\"")

    def holds(self, path: Path) -> bool:
        """Whether ``path`` (resolved) lies inside this share."""
        return path == self.path or self.path in path.parents


def plan_shares(directories: list[Path], reserved: frozenset[str] = RESERVED) -> list[Share]:
    """Check the ``--share`` directories and give each its mount tag."""
    shares: list[Share] = []
    for directory in directories:
        path = Path(directory).resolve()
        if not path.is_dir():
            raise ConfigError(f"--share {directory}: no such directory")
        if str(path) in reserved:
            raise ConfigError(f"--share {directory}: would hide the emulated host's own {path}; "
                              "share a directory below it")
        if any(share.path == path for share in shares):
            raise ConfigError(f"--share {directory}: given twice")
        shares.append(Share(path, f"share{len(shares)}"))
    return shares


__all__ = ["MOUNT_OPTIONS", "RESERVED", "Share", "plan_shares"]
