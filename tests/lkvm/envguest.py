"""Assemble ``envguest.S`` (a kvm-unit-tests-shaped flat arm64 guest) with llvm-mc
and llvm-objcopy (Debian's ``llvm``, in the Makefile's APT_TEST_PACKAGES)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from vmm.core.testing import skip_or_fail
from vmm.plugins.arm64.layout import UART_BASE

SOURCE = Path(__file__).with_name("envguest.S")


def build_envguest(directory: Path) -> Path:
    """The flat binary (no Image header), written in ``directory``."""
    tools = [shutil.which(name) for name in ("llvm-mc", "llvm-objcopy")]
    if None in tools:
        skip_or_fail("llvm-mc/llvm-objcopy not installed (apt-get install llvm)")
    llvm_mc, objcopy = tools
    obj, flat = directory / "envguest.o", directory / "envguest.flat"
    subprocess.run([llvm_mc, "-triple=aarch64", "-filetype=obj",
                    f"--defsym=UART_BASE={UART_BASE:#x}", "-o", str(obj), str(SOURCE)],
                   check=True, capture_output=True, timeout=60)
    subprocess.run([objcopy, "-O", "binary", "-j", ".text", str(obj), str(flat)],
                   check=True, capture_output=True, timeout=60)
    return flat
