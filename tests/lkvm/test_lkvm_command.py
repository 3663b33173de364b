"""``vmm-lkvm`` as scripts see it: the probes kvm-unit-tests makes, version, help,
and kvmtool's exit statuses (subprocesses of the installed console script)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vmm.core.lkvm import EXIT_EINVAL, EXIT_FATAL, EXIT_USAGE
from vmm.core.lkvm.dialect import OPTIONS


def lkvm(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The installed ``vmm-lkvm`` (next to this Python), or the module's main."""
    script = Path(sys.executable).with_name("vmm-lkvm")
    command = [str(script)] if script.exists() else [
        sys.executable, "-c", "from vmm.core.lkvm import main; main()"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, stdin=subprocess.DEVNULL)


def test_the_console_script_is_installed():
    assert shutil.which("vmm-lkvm", path=str(Path(sys.executable).parent)), (
        "pyproject's [project.scripts] has no vmm-lkvm, or the venv is stale (make venv)")


def test_help_probe_finds_the_command_list():
    # kvm-unit-tests: "$KVMTOOL" --help 2>/dev/null | grep -q 'The most commonly used'
    result = lkvm("--help")
    assert "The most commonly used lkvm commands are:" in result.stdout
    assert "   run " in result.stdout and "   version " in result.stdout
    assert result.returncode == EXIT_EINVAL  # kvmtool: --help is no command; help, EINVAL


def test_help_and_version_commands():
    assert lkvm("help").returncode == 0
    result = lkvm("version")
    assert result.returncode == 0 and result.stdout.startswith("kvm tool vmm-")
    run_help = lkvm("help", "run")
    assert run_help.returncode == 0
    for option in OPTIONS:
        assert f"--{option.long}" in run_help.stdout


def test_missing_kernel_probe(tmp_path):
    """kvm-unit-tests' premature-failure probe: its command line with a kernel that
    isn't there must say kvmtool's words (scripts/vmm.bash greps for them)."""
    env = tmp_path / "env"
    env.write_text("TARGET=kvmtool\n")
    result = lkvm("run", "--kernel", "_NO_FILE_4Uhere_", "--cpus", "1", "--nodefaults",
                  "--network", "mode=none", "--loglevel=warning", "--initrd", str(env),
                  cwd=tmp_path)
    assert "Fatal: Unable to open kernel _NO_FILE_4Uhere_" in result.stderr, result.stderr
    assert result.returncode == EXIT_FATAL
    assert "Traceback" not in result.stderr


def test_missing_initrd_is_fatal_too(tmp_path):
    kernel = tmp_path / "k"
    kernel.write_bytes(b"\0" * 64)
    result = lkvm("run", "-k", str(kernel), "-i", str(tmp_path / "nope"))
    assert f"Fatal: Unable to open initrd {tmp_path / 'nope'}" in result.stderr
    assert result.returncode == EXIT_FATAL


@pytest.mark.parametrize("words, message", [
    (["--frobnicate"], "unknown option `frobnicate'"),
    (["--balloon"], "option `balloon' is not supported by vmm"),
    (["--cpus", "many"], "option `cpus': vmm can't use 'many'"),
])
def test_command_line_refusals_exit_129_with_usage(words, message):
    result = lkvm("run", *words)
    assert result.returncode == EXIT_USAGE
    assert result.stderr.startswith(f"  Error: {message}"), result.stderr
    assert "usage: vmm-lkvm run" in result.stderr


@pytest.mark.parametrize("words", [["--help"], ["-c", "1", "-h"]])
def test_run_help_exits_129(words):
    result = lkvm("run", *words)
    assert result.returncode == EXIT_USAGE and "usage: vmm-lkvm run" in result.stderr
    assert "Error" not in result.stderr


def test_help_as_a_value_is_a_value(tmp_path):
    """``-p --help`` is a command line, not a request for help."""
    result = lkvm("run", "-k", str(tmp_path / "none"), "-p", "--help")
    assert result.returncode == EXIT_FATAL and "Unable to open kernel" in result.stderr


def test_commands_vmm_lacks_are_fatal():
    result = lkvm("list")
    assert result.returncode == EXIT_FATAL and "Fatal:" in result.stderr


def test_unknown_command_shows_help_and_exits_einval():
    result = lkvm("frobnicate")
    assert result.returncode == EXIT_EINVAL and "The most commonly used" in result.stdout
