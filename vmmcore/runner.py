"""From a Config to a finished VM: the builder's VM (:mod:`.builder`), its stages and
vCPUs, the exit code."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, BinaryIO

from .builder import build_vm
from .config import Config

if TYPE_CHECKING:
    from pluggy import PluginManager

    from .vm import Vm

#: ``--loglevel`` (kvmtool's names) to the logging module's levels.
_LOG_LEVELS = {"error": logging.ERROR, "warning": logging.WARNING, "info": logging.INFO,
               "debug": logging.DEBUG}


def run_config(config: Config, console: BinaryIO | None = None,
               pm: PluginManager | None = None) -> int:
    """Build, run and tear down the VM ``config`` describes; return its exit code.

    :param pm: a plugin manager already built for ``config.arch`` and
        ``config.plugins_blocked`` (the CLI builds one to collect the options);
        default: a new one.
    """
    from .vm import run_vm

    logging.basicConfig(
        level=logging.DEBUG if config.debug else _LOG_LEVELS.get(config.loglevel, logging.WARNING),
        format="vmm: %(levelname)s: %(message)s",
    )
    vm = build_vm(config, pm, console=console)
    code = run_vm(vm, start=not config.dry_run)
    if config.dry_run:
        print_dry_run(vm)
    return code


def print_dry_run(vm: Vm) -> None:
    """Print the KVM call sequence the model recorded, and what plugins reported."""
    from .model.backend import ModelBackend

    out = sys.stdout
    assert isinstance(vm.backend, ModelBackend)  # --dry-run's (build_vm)
    print("KVM call sequence (model backend):", file=out)
    for index, call in enumerate(vm.backend.log, 1):
        print(f"  {index:3d}. {call}", file=out)
    for line in vm.report:
        print(line, file=out)
