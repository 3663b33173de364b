"""The whole of ``vmm nested``: find the host, forward files, build, boot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vmm.core.errors import ConfigError
from vmm.core.nested.forwarding import plan_forwarding
from vmm.core.nested.hostimage import prepare_host
from vmm.core.nested.hosts import find_emulated_host
from vmm.core.nested.initscript import INNER_SHELL, INNER_VMM
from vmm.core.nested.payload import reserved_paths
from vmm.core.nested.qemu import find_qemu
from vmm.core.nested.runner import RunResult, run_emulated_host
from vmm.core.nested.shares import RESERVED, plan_shares
from vmm.core.nested.spec import EmulatedHost


def emulated_host_for(arch: str, options: dict[str, Any] | None = None) -> EmulatedHost:
    """The plugins' description of ``arch``'s emulated host, or a ConfigError.

    :param options: the values of the plugins' ``vmm nested`` options.
    """
    spec = find_emulated_host(arch, options)
    if spec is None:
        raise ConfigError(f"no installed plugin describes an emulated KVM host for '{arch}'")
    return spec


def run_nested(arch: str, vmm_args: list[str], timeout: float,
               console_log: Path | None = None, verbose: bool = False,
               shell: bool = False, shares: list[Path] | None = None,
               host_options: dict[str, Any] | None = None) -> RunResult:
    """Run ``vmm <vmm_args>`` inside an emulated ``arch`` host; return its result.

    With ``shell`` the arguments go to L1's busybox ``sh`` instead of vmm (files
    are forwarded the same way), to look around in the emulated host. ``shares``
    are directories L1 sees at the same path, read-write.
    """
    spec = emulated_host_for(arch, host_options)
    boot = spec.firmware_boot
    planned = plan_shares(shares or [], reserved_paths(boot) if boot else RESERVED)
    plan = plan_forwarding(vmm_args, planned)
    qemu = find_qemu(spec)
    image = prepare_host(spec)
    program = INNER_SHELL if shell else INNER_VMM
    return run_emulated_host(spec, image, qemu, plan, timeout, console_log, verbose, program)
