"""``vmm run`` takes kvmtool's spellings (--nodefaults, --network mode=none,
--loglevel), and kvm-unit-tests' command line, translated by vmm-lkvm, builds the
VM it asks for (arm64, against the model of KVM)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vmm.core.cli.run import RunOptions
from vmm.core.lkvm.translate import parse_run_words, vmm_words
from vmm.core.testing import minimal_kernel, skip_or_fail


def vmm_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vmm", "run", "--arch", "arm64", "--dry-run",
                           *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def flat(tmp_path: Path) -> Path:
    """A headerless kernel, as kvm-unit-tests builds them."""
    path = tmp_path / "test.flat"
    path.write_bytes(minimal_kernel("arm64", magic=b"none"))
    return path


def test_kvmtool_spellings_are_accepted(flat):
    result = vmm_run("-k", str(flat), "--nodefaults", "--network", "mode=none",
                     "--loglevel=error")
    assert result.returncode == 0, result.stderr
    assert "virtio-net" not in result.stdout


@pytest.mark.parametrize("args, message", [
    (["--network", "mode=none", "--network", "mode=tap,tapif=x"], "mode=none means no network"),
    (["--loglevel", "chatty"], "chatty"),
])
def test_bad_spellings_are_refused(flat, args, message):
    result = vmm_run("-k", str(flat), *args)
    assert result.returncode in (1, 2) and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_loglevel_debug_shows_debug_messages(flat):
    quiet = vmm_run("-k", str(flat), "--loglevel=error")
    chatty = vmm_run("-k", str(flat), "--loglevel=debug")
    assert "DEBUG" not in quiet.stderr
    assert "vmm: DEBUG:" in chatty.stderr, chatty.stderr


def test_kvm_unit_tests_line_builds_the_vm_it_asks_for(flat, tmp_path):
    """Translated words go to vmm run unchanged; the device tree shows them used."""
    dtc = shutil.which("dtc")
    if dtc is None:
        skip_or_fail("dtc is not installed (Debian package device-tree-compiler)")
    env = tmp_path / "env"
    env.write_text("TARGET=kvmtool\nSTATUS=3\n")
    words = ["--kernel", str(flat), "--cpus", "2", "--params", "setup smp=2 mem=256",
             "--nodefaults", "--network", "mode=none", "--loglevel=warning", "--mem", "256",
             "--pmu", "--irqchip=gicv3", "--initrd", str(env)]
    flags = {flag for option in RunOptions(["run", "--arch", "arm64"]).options
             for flag in option.flags}
    dtb = tmp_path / "out.dtb"
    result = vmm_run(*vmm_words(parse_run_words(words), flags), f"--dtb-out={dtb}")
    assert result.returncode == 0, result.stderr
    dts = subprocess.run([dtc, "-I", "dtb", "-O", "dts", str(dtb)], capture_output=True,
                         text=True, check=True).stdout
    assert 'bootargs = "setup smp=2 mem=256";' in dts
    assert "linux,initrd-start" in dts and "linux,initrd-end" in dts
    assert dts.count("cpu@") == 2
    assert "arm,armv8-pmuv3" in dts          # --pmu
    assert "arm,gic-v3" in dts               # --irqchip=gicv3
    assert "reg = <0x00 0x80000000 0x00 0x10000000>;" in dts  # 256 MiB at 2 GiB
