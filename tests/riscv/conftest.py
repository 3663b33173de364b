"""riscv test helpers: model-backed riscv VMs, the vmm command, dtc."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vmm.core.testing import GivenModel, ModelVm, minimal_kernel, skip_or_fail
from vmm.plugins.riscv.model import RiscvModel, RiscvProfile


@pytest.fixture
def riscv_vm(vmm_vm) -> Callable[..., ModelVm]:
    """``riscv_vm(profile=RiscvProfile(...), options={...}, **config) -> ModelVm``."""

    def factory(profile: RiscvProfile | None = None, options: dict[str, Any] | None = None,
                **kwargs: Any) -> ModelVm:
        if profile is not None:
            kwargs["extra_plugins"] = [*kwargs.get("extra_plugins", ()),
                                       ("riscv-profile", GivenModel(RiscvModel(profile)))]
        kwargs.setdefault("kernel", minimal_kernel("riscv"))
        return vmm_vm("riscv", options=options, **kwargs)

    return factory


@pytest.fixture
def kernel_path(tmp_path: Path) -> str:
    """A header-valid riscv Image on disk."""
    path = tmp_path / "Image"
    path.write_bytes(minimal_kernel("riscv"))
    return str(path)


def vmm(*args: str) -> subprocess.CompletedProcess:
    """Run the ``vmm`` command line in a subprocess."""
    return subprocess.run([sys.executable, "-m", "vmm", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def decompile(blob: bytes, tmp_path: Path) -> str:
    """A DTB as dtc prints it, with no warnings allowed (skip/fail without dtc)."""
    dtc = shutil.which("dtc")
    if dtc is None:
        skip_or_fail("dtc is not installed (Debian package device-tree-compiler)")
    path = tmp_path / "tree.dtb"
    path.write_bytes(blob)
    result = subprocess.run([dtc, "-I", "dtb", "-O", "dts", str(path)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr
    return result.stdout
