"""The command line: the exact Config a run receives, options from plugins, errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

import vmm.core.runner
from vmm import __version__
from vmm.core.cli import main
from vmm.core.config import Config


@pytest.fixture
def captured(monkeypatch):
    seen: list[Config] = []

    def fake_run(config, console=None, pm=None):
        seen.append(config)
        return 3

    monkeypatch.setattr(vmm.core.runner, "run_config", fake_run)
    return seen


def run_main(argv):
    with pytest.raises(SystemExit) as raised:
        main(argv)
    return raised.value.code


def test_run_receives_the_exact_config(captured, tmp_path):
    kernel = tmp_path / "k"
    kernel.write_bytes(b"x")
    code = run_main(["run", "--arch", "x86", "-k", str(kernel), "-i", "rd", "-p",
                     "console=ttyS0 quiet", "-m", "512", "-c", "2", "--console", "virtio",
                     "--nocompat", "--dry-run"])
    assert code == 3
    [config] = captured
    assert (config.arch, config.kernel, config.initrd, config.params) == (
        "x86", str(kernel), "rd", "console=ttyS0 quiet")
    assert (config.mem_mib, config.cpus, config.console) == (512, 2, "virtio")
    assert config.nocompat and config.dry_run and not config.debug
    assert config.firmware is None and config.plugins_blocked == []


def test_defaults(captured):
    run_main(["run", "--arch", "x86"])
    [config] = captured
    assert config.given_options == {}  # no plugin option differs from its default
    assert config == Config(arch="x86", sandbox=None, options=config.options)
    assert config.mem_mib == 256 and config.cpus == 1 and config.console == "serial"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vmm", *args],
                          capture_output=True, text=True, timeout=60)


def test_version():
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"vmm {__version__}"


@pytest.mark.parametrize("args,code", [
    (["run", "--cpus", "many"], 2),
    (["run", "--console", "vga"], 2),
    (["run", "--no-such-option"], 2),
])
def test_malformed_command_line_exits_2(args, code):
    result = cli(*args)
    assert result.returncode == code
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("arch", ["mips", ""])
def test_unknown_arch_is_one_line_exit_2(arch):
    """A malformed command line; before, --arch "" silently meant the host's arch."""
    result = cli("run", "--arch", arch)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"vmm: error: unknown architecture {arch!r}: choose one of arm64, riscv, x86"]


def test_blocking_a_plugin_that_does_not_exist_is_one_line_exit_2():
    """Before: --block nope was ignored."""
    result = cli("run", "--arch", "x86", "--block", "nope", "--dry-run")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "vmm: error: --block nope: no plugin has that name (installed: arm64, arm64_realm, "
        "core, riscv, virtio, x86)"]
    known = cli("run", "--arch", "x86", "--block", "arm64_realm", "--dry-run")
    assert known.returncode == 0, known.stderr  # installed, just not for x86
