"""The whole of ``vmm nested``: find the host, forward files, build, boot."""

from __future__ import annotations

from pathlib import Path

from vmm.core.errors import ConfigError
from vmm.core.nested.forwarding import plan_forwarding
from vmm.core.nested.hostimage import prepare_host
from vmm.core.nested.hosts import find_emulated_host
from vmm.core.nested.initscript import INNER_SHELL, INNER_VMM
from vmm.core.nested.qemu import find_qemu
from vmm.core.nested.runner import RunResult, run_emulated_host
from vmm.core.nested.spec import EmulatedHost


def emulated_host_for(arch: str) -> EmulatedHost:
    """The plugins' description of ``arch``'s emulated host, or a ConfigError."""
    spec = find_emulated_host(arch)
    if spec is None:
        raise ConfigError(f"no installed plugin describes an emulated KVM host for '{arch}'")
    return spec


def run_nested(arch: str, vmm_args: list[str], timeout: float,
               console_log: Path | None = None, verbose: bool = False,
               shell: bool = False) -> RunResult:
    """Run ``vmm <vmm_args>`` inside an emulated ``arch`` host; return its result.

    With ``shell`` the arguments go to L1's busybox ``sh`` instead of vmm (files
    are forwarded the same way), to look around in the emulated host.
    """
    spec = emulated_host_for(arch)
    plan = plan_forwarding(vmm_args)
    qemu = find_qemu(spec)
    image = prepare_host(spec)
    program = INNER_SHELL if shell else INNER_VMM
    return run_emulated_host(spec, image, qemu, plan, timeout, console_log, verbose, program)
