"""The sandbox of a running VM (vmm.core.sandbox), on this host's /dev/kvm.

Before: the VMM ran its guest with every capability, no seccomp filter and
no_new_privs off.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .conftest import run_vmm

REPO = Path(__file__).resolve().parents[2]


def sandbox_guest(mode: str, kernel: Path, modules: Path | None = None) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    path = str(REPO) if modules is None else f"{REPO}{os.pathsep}{modules}"
    return subprocess.run([sys.executable, "-m", "tests.x86.sandbox_guest", mode, str(kernel)],
                          cwd=REPO, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, env={**env, "PYTHONPATH": path})


def test_the_sandbox_is_active_while_the_guest_runs(require_kvm, build):
    """What the kernel reports from inside a device handler on the vCPU thread."""
    result = sandbox_guest("status", build("pio16"))
    assert result.returncode == 0, result.stderr
    status = dict(line.split(":\t") for line in result.stdout.splitlines() if ":\t" in line)
    assert status["Seccomp"] == "2" and status["NoNewPrivs"] == "1"
    assert int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0


@pytest.mark.parametrize("mode, call", [("forbidden", "socket (41)"), ("tiocsti", "ioctl (16)")])
def test_a_forbidden_system_call_ends_the_vm_naming_it(require_kvm, build, mode, call):
    """socket() is never allowed; ioctl is, but only KVM's and the termios requests."""
    result = sandbox_guest(mode, build("pio16"))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"vmm: error: the sandbox stopped a forbidden system call, {call}: a bug or an "
        "attack; report it (--no-sandbox runs without the sandbox)"]
    assert "pio guest: 100000 port writes done" not in result.stdout


def test_a_module_imported_while_sandboxed_writes_no_bytecode(require_kvm, build, tmp_path):
    """Before: a lazy import of a module without bytecode (x86's RTC imports datetime
    on the guest's first clock read) tried mkdir __pycache__, which the filter refuses."""
    (tmp_path / "vmm_sandbox_lazy_module.py").write_text("LOADED = True\n")
    result = sandbox_guest("import", build("pio16"), modules=tmp_path)
    assert not (tmp_path / "__pycache__").exists()
    assert result.returncode == 0, result.stderr
    assert "pio guest: 100000 port writes done" in result.stdout


def test_vmm_run_is_sandboxed_by_default(require_kvm):
    """The README's default run: the sandbox is on (what --debug reports from
    /proc/self/status once it is), and --no-sandbox turns it off."""
    default = run_vmm("--debug")
    assert default.returncode == 0, default.stderr
    line = next(line for line in default.stderr.decode().splitlines() if "sandbox on" in line)
    assert "Seccomp 2" in line and "NoNewPrivs 1" in line and "CapEff 0000000000000000" in line
    off = run_vmm("--debug", "--no-sandbox")
    assert off.returncode == 0 and "sandbox on" not in off.stderr.decode()


def test_a_process_embedding_vmm_is_not_sandboxed_unless_it_asks(require_kvm):
    code = textwrap.dedent("""
        from vmm.core.config import Config
        from vmm.core.runner import run_config
        assert run_config(Config(arch="x86")) == 0
        print(open("/proc/self/status").read())
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert "Seccomp:\t0" in result.stdout and "NoNewPrivs:\t0" in result.stdout


def test_sandbox_and_no_sandbox_together_are_refused():
    result = run_vmm("--sandbox", "--no-sandbox")
    assert result.returncode == 1
    assert result.stderr.decode() == "vmm: error: give --sandbox or --no-sandbox, not both\n"
