"""From a Config to a finished VM: plugins, validation, backend, stages, exit code."""

from __future__ import annotations

import logging
import sys
from typing import Any

from .config import Config
from .errors import ConfigError
from .kvm.seam import Backend


def choose_backend(config: Config, pm) -> Backend:
    """The host's /dev/kvm, or the model of KVM for ``--dry-run``."""
    if not config.dry_run:
        from .kvm.host import HostBackend

        return HostBackend()
    from .model.backend import ModelBackend

    arch_model = pm.hook.vmm_kvm_model(config=config)
    if arch_model is None:
        raise ConfigError(f"the {config.arch} plugin has no model of KVM; --dry-run is unavailable")
    return ModelBackend(arch_model)


def validate_config(config: Config, pm: Any) -> None:
    """Bind the plugins' options (unless bound for ``pm`` already), then let every
    plugin check the configuration (``vmm_validate_config``)."""
    if config.options is None:
        from .options import collect_option_groups

        config.bind_options(collect_option_groups(pm))
    pm.hook.vmm_validate_config(config=config)


def run_config(config: Config, console=None, pm: Any = None) -> int:
    """Build, run and tear down the VM ``config`` describes; return its exit code.

    :param pm: a plugin manager already built for ``config.arch`` and
        ``config.plugins_blocked`` (the CLI builds one to collect the options);
        default: a new one.
    """
    from .plugins import build_manager
    from .vm import Vm, run_vm

    logging.basicConfig(
        level=logging.DEBUG if config.debug else logging.WARNING,
        format="vmm: %(levelname)s: %(message)s",
    )
    if pm is None:
        pm = build_manager(config.arch, blocked=config.plugins_blocked)
    validate_config(config, pm)
    backend = choose_backend(config, pm)
    vm = Vm(config, pm, backend, console=console)
    code = run_vm(vm, start=not config.dry_run)
    if config.dry_run:
        print_dry_run(vm)
    return code


def print_dry_run(vm) -> None:
    """Print the KVM call sequence the model recorded, and what plugins reported."""
    out = sys.stdout
    print("KVM call sequence (model backend):", file=out)
    for index, call in enumerate(vm.backend.log, 1):
        print(f"  {index:3d}. {call}", file=out)
    for line in vm.report:
        print(line, file=out)
