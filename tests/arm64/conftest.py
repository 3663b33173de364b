"""arm64 test helpers: model-backed arm64 VMs, synthetic Images, the vmm command, dtc."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vmm.core.testing import GivenModel, ModelVm, minimal_kernel, skip_or_fail
from vmm.plugins.arm64.model import Arm64Model
from vmm.plugins.arm64.model_host import ModelHost


@pytest.fixture
def arm64_vm(vmm_vm) -> Callable[..., ModelVm]:
    """``arm64_vm(host=ModelHost(...), options={...}, **config) -> ModelVm``."""

    def factory(host: ModelHost | None = None, options: dict[str, Any] | None = None,
                **kwargs: Any) -> ModelVm:
        if host is not None:
            kwargs["extra_plugins"] = [*kwargs.get("extra_plugins", ()),
                                       ("arm64-host", GivenModel(Arm64Model(host)))]
        kwargs.setdefault("kernel", minimal_kernel("arm64"))
        kwargs.setdefault("mem_mib", 64)
        return vmm_vm("arm64", options=options, **kwargs)

    return factory


@pytest.fixture
def image_path(tmp_path: Path) -> str:
    """A header-valid arm64 Image on disk."""
    path = tmp_path / "Image"
    path.write_bytes(minimal_kernel("arm64"))
    return str(path)


def run_vmm(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``vmm run --arch arm64 --dry-run ARGS`` in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "vmm", "run", "--arch", "arm64", "--dry-run", *args],
        capture_output=True, text=True, cwd=cwd, timeout=120,
    )


def decompile(blob: bytes, tmp_path: Path) -> str:
    """``dtc -I dtb -O dts`` of ``blob``; dtc must not warn. Leading zeros removed."""
    dtc = shutil.which("dtc")
    if dtc is None:
        skip_or_fail("dtc is not installed (Debian package device-tree-compiler)")
    path = tmp_path / "decompile.dtb"
    path.write_bytes(blob)
    result = subprocess.run([dtc, "-I", "dtb", "-O", "dts", str(path)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr
    return re.sub(r"0x0+([0-9a-f])", r"0x\1", result.stdout)
