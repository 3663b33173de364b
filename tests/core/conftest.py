"""Core tests build VMs from the fake arch plugin only (no built-in plugins)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from vmm.core.builder import build_vm
from vmm.core.config import Config
from vmm.core.vm import Vm

from . import fakearch


@pytest.fixture
def kernel_file(tmp_path: Path) -> str:
    path = tmp_path / "kernel.bin"
    path.write_bytes(b"\xf4" * 64)
    return str(path)


@pytest.fixture
def make_vm(kernel_file):
    """Build a Vm on the model with the fake arch; extra plugins may be added."""
    made: list[Vm] = []

    def factory(*extra_plugins, **config_fields) -> Vm:
        config_fields.setdefault("kernel", kernel_file)
        config_fields.setdefault("mem_mib", 16)
        config = Config(arch="x86", dry_run=True, **config_fields)
        vm = build_vm(config, console=io.BytesIO(), entries=fakearch.entries(),
                      extra=[(f"extra{i}", p) for i, p in enumerate(extra_plugins)])
        made.append(vm)
        return vm

    yield factory
    for vm in made:
        vm.close()
