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
) -> Config:
    """The Config of ``vmm run --arch arm64 --realm --dry-run`` with these values.

    Options not given keep ``vmm run``'s defaults, so both builds match.
    """
    from vmm.core.config import Config

    from .options import PLUGIN

    options = {"realm": True, **{key: value for key, value in realm_options.items()
                                 if value is not None}}
    return Config(arch="arm64", kernel=kernel, initrd=initrd, firmware=firmware, params=params,
                  mem_mib=mem_mib, cpus=cpus, dry_run=True, given_options={PLUGIN: options})


def dry_run_plan(config: Config) -> Plan:
    """Build the realm ``config`` describes against the model; return its RMI plan."""
    from vmm.core.runner import choose_backend, validate_config
    from vmm.core.plugins import build_manager
    from vmm.core.vm import Vm, run_vm

    from .report import modelled_realm

    pm = build_manager(config.arch, blocked=config.plugins_blocked)
    validate_config(config, pm)
    vm = Vm(config, pm, choose_backend(config, pm), console=io.BytesIO())
    run_vm(vm, start=False)
    realm = modelled_realm(vm)
    if realm is None or realm.recorder is None:
        raise VmmError("the dry run built no realm (is the arm64 plugin blocked?)")
    return realm.recorder.plan
