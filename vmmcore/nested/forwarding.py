"""Carry the files named on the inner vmm's command line into the emulated host.

Plain files (kernel, initrd, firmware, flash, anything else that names an existing
file) are copied into L1's initramfs under ``/nested/files``, unless they lie in a
directory shared with ``--share`` (L1 sees them at the same path); disk images
become virtio block devices of L1 so that what the guest writes lands in the file
here. The arguments are rewritten to the paths L1 sees.
"""

from __future__ import annotations

import os
import string
from dataclasses import dataclass, field
from pathlib import Path

from vmm.core.errors import ConfigError
from vmm.core.nested.shares import Share

#: Options whose value must name a file on this machine.
FILE_OPTIONS = frozenset({"-k", "--kernel", "-i", "--initrd", "--firmware", "--flash"})
#: Options whose value is ``FILE[,flag...]`` naming a disk image.
DISK_OPTIONS = frozenset({"-d", "--disk"})
FILES_DIR = "/nested/files"


@dataclass(frozen=True)
class Disk:
    """A disk image handed to L1 as a block device."""

    path: Path
    readonly: bool
    device: str


@dataclass
class ForwardPlan:
    """The rewritten arguments and what must be carried into L1 for them."""

    args: list[str] = field(default_factory=list)
    files: dict[Path, str] = field(default_factory=dict)
    disks: list[Disk] = field(default_factory=list)
    shares: list[Share] = field(default_factory=list)

    def forward_file(self, path: Path) -> str:
        """The L1 path of a file: its own in a share, else that of a copy (one per file)."""
        resolved = path.resolve()
        if any(share.holds(resolved) for share in self.shares):
            return str(resolved)
        if resolved not in self.files:
            self.files[resolved] = f"{FILES_DIR}/{len(self.files)}/{resolved.name}"
        return self.files[resolved]

    def attach_disk(self, value: str, option: str) -> str:
        """Attach ``FILE[,ro...]`` as the next block device; return its new value."""
        name, _, flags = value.partition(",")
        path = Path(name)
        if not path.is_file():
            raise ConfigError(f"{option} {name}: no such disk image")
        if len(self.disks) >= len(string.ascii_lowercase):
            raise ConfigError(f"{option}: too many disks for the emulated host")
        readonly = "ro" in flags.split(",")
        if not readonly and not os.access(path, os.W_OK):
            raise ConfigError(f"{option} {name}: not writable (add ,ro)")
        device = f"/dev/vd{string.ascii_lowercase[len(self.disks)]}"
        self.disks.append(Disk(path.resolve(), readonly, device))
        return device + (f",{flags}" if flags else "")


def _rewrite_value(plan: ForwardPlan, option: str, value: str) -> str:
    if option in DISK_OPTIONS:
        return plan.attach_disk(value, option)
    if option in FILE_OPTIONS:
        if not Path(value).is_file():
            raise ConfigError(f"{option} {value}: no such file")
        return plan.forward_file(Path(value))
    return _rewrite_plain(plan, value)


def _rewrite_plain(plan: ForwardPlan, token: str) -> str:
    if token and not token.startswith("-") and Path(token).is_file():
        return plan.forward_file(Path(token))
    return token


def plan_forwarding(args: list[str], shares: list[Share] | None = None) -> ForwardPlan:
    """Rewrite the inner vmm's arguments for L1 and list what to carry there."""
    plan = ForwardPlan(shares=list(shares or []))
    pending_option: str | None = None
    for token in args:
        if pending_option is not None:
            plan.args.append(_rewrite_value(plan, pending_option, token))
            pending_option = None
        elif token in FILE_OPTIONS or token in DISK_OPTIONS:
            plan.args.append(token)
            pending_option = token
        elif token.startswith("--") and "=" in token:
            option, _, value = token.partition("=")
            plan.args.append(f"{option}={_rewrite_value(plan, option, value)}")
        else:
            plan.args.append(_rewrite_plain(plan, token))
    if pending_option is not None:
        raise ConfigError(f"{pending_option} needs a value")
    return plan
