"""``vmm realm measure`` from images: the same dry-run build as ``vmm run --dry-run``.

The realm is built in-process against the model of KVM with exactly the plugins,
placement and device tree ``vmm run --arch arm64 --realm ... --dry-run`` uses, and the
plan the model recorded is measured. So the RIM printed here is the dry run's.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from vmm.core.errors import VmmError

if TYPE_CHECKING:  # pragma: no cover
    from vmm.core.config import Config

    from .rmm import Plan


def realm_run_config(
    *,
    kernel: str | None,
    initrd: str | None = None,
    firmware: str | None = None,
    params: str = "",
    mem_mib: int,
    cpus: int,
    realm_options: dict[str, Any],
    arm64_options: dict[str, Any] | None = None,
) -> Config:
    """The Config of ``vmm run --arch arm64 --realm --dry-run`` with these values.

    ``realm_options`` are the layer's (``--sve-vl``...), ``arm64_options`` the arm64
    plugin's (``--pmu``), each as that command line would give them. Options not
    given (or None) keep ``vmm run``'s defaults, so both builds match.
    """
    from vmm.core.config import Config
    from vmm.plugins.arm64.options import PLUGIN as ARM64

    from .options import PLUGIN

    given = {PLUGIN: {"realm": True, **_given(realm_options)},
             ARM64: _given(arm64_options or {})}
    return Config(arch="arm64", kernel=kernel, initrd=initrd, firmware=firmware, params=params,
                  mem_mib=mem_mib, cpus=cpus, dry_run=True,
                  given_options={plugin: values for plugin, values in given.items() if values})


def _given(options: dict[str, Any]) -> dict[str, Any]:
    """The options given: those whose value is not None."""
    return {key: value for key, value in options.items() if value is not None}


def dry_run_plan(config: Config) -> Plan:
    """Build the realm ``config`` describes against the model; return its RMI plan."""
    from vmm.core.builder import build_vm
    from vmm.core.vm import run_vm

    from .report import modelled_realm

    vm = build_vm(config, console=io.BytesIO())
    run_vm(vm, start=False)
    realm = modelled_realm(vm)
    if realm is None or realm.recorder is None:
        raise VmmError("the dry run built no realm (is the arm64 plugin blocked?)")
    return realm.recorder.plan
