"""The typed configuration of one ``vmm run``.

The CLI builds it; plugins read it. Options contributed by plugins live in
``plugin_options`` under their destination names (a plugin's own state belongs in
the per-VM stash, never in new core fields).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

ARCHES = ("x86", "arm64", "riscv")

_MACHINE_TO_ARCH = {
    "x86_64": "x86",
    "amd64": "x86",
    "aarch64": "arm64",
    "arm64": "arm64",
    "riscv64": "riscv",
}

DEFAULT_MEM_MIB = 256


def host_arch() -> str:
    """The vmm architecture name of this machine (x86, arm64 or riscv)."""
    machine = os.uname().machine.lower()  # platform.machine(), without importing platform
    return _MACHINE_TO_ARCH.get(machine, machine)


@dataclass
class Config:
    """Everything ``vmm run`` was asked to do."""

    arch: str = field(default_factory=host_arch)
    kernel: str | None = None
    initrd: str | None = None
    params: str = ""
    mem_mib: int = DEFAULT_MEM_MIB
    cpus: int = 1
    firmware: str | None = None
    console: str = "serial"
    debug: bool = False
    dry_run: bool = False
    nocompat: bool = False
    #: The seccomp sandbox of a running VM (vmm.core.sandbox): True required, None
    #: on where it works (``vmm run``'s default), False off (a library's default).
    sandbox: bool | None = False
    #: A hugetlbfs directory guest RAM is mapped from (kvmtool's --hugetlbfs), or None.
    hugetlbfs: str | None = None
    plugins_blocked: list[str] = field(default_factory=list)
    plugin_options: dict[str, Any] = field(default_factory=dict)

    @property
    def mem_bytes(self) -> int:
        return self.mem_mib << 20

    def option(self, name: str, default: Any = None) -> Any:
        """A plugin option's value (by destination name)."""
        return self.plugin_options.get(name, default)
