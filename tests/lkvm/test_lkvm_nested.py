"""kvm-unit-tests' contract with kvmtool, met by ``vmm-lkvm`` on real arm64 KVM in
the emulated arm64 host: one host boot, under bash (the harness's shell, from the
host image's Debian packages), that makes the harness's probes and runs a
kvm-unit-tests-shaped guest (``envguest.S``) with its exact command line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vmm.core.testing import skip_or_fail

from .envguest import build_envguest

pytestmark = pytest.mark.boot
TIMEOUT = 900

#: What L1 runs (bash SCRIPT FLAT ENV): kvm-unit-tests' calls, as
#: scripts/arch-run.bash, scripts/vmm.bash and arm/run make them.
SCRIPT = r"""
set -u
flat=$1 env=$2
echo "coreutils: $(timeout --version | head -n1)"
echo "cpus: $(getconf _NPROCESSORS_ONLN) online"   # scripts/runtime.bash's MAX_SMP
cat <(echo "process substitution ok")              # /dev/fd, as run_test's tee uses
if vmm-lkvm --help 2>/dev/null | grep -q 'The most commonly used'; then echo "probe: help ok"; fi
line=(--cpus 2 --params "setup  smp=2" --nodefaults --network mode=none --loglevel=warning
      --mem 256 --pmu --irqchip=gicv3)
# stderr through tee /dev/stderr, as scripts/arch-run.bash's run_test captures it
errors=$( { vmm-lkvm run --kernel _NO_FILE_4Uhere_ "${line[@]}" --initrd "$env" \
            2> >(tee /dev/stderr) >/dev/null; echo "status=$?"; } 2>&1)
echo "probe: $(echo "$errors" | grep status=)" \
     "$(echo "$errors" | grep -m1 'Fatal: Unable to open kernel _NO_FILE_4Uhere_')"
timeout -k 1s --foreground 300 vmm-lkvm run --kernel "$flat" "${line[@]}" --initrd "$env" </dev/null
echo "run: status=$?"
"""


def test_kvm_unit_tests_contract_in_the_emulated_arm64_host(tmp_path: Path):
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            skip_or_fail(f"vmm nested needs {tool}")
    flat = build_envguest(tmp_path)
    env = tmp_path / "env"
    env.write_text("TARGET=kvmtool\nKERNEL_VERSION_STRING=6.1.0\nSTATUS=5\n")
    script = tmp_path / "contract.sh"
    script.write_text(SCRIPT)
    command = [sys.executable, "-m", "vmm", "nested", "--arch", "arm64", "--timeout",
               str(TIMEOUT), "--shell", "--", "-c", 'exec bash "$1" "$2" "$3"', "sh",
               str(script), str(flat), str(env)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT + 900,
                            stdin=subprocess.DEVNULL)
    out = result.stdout
    report = out[-4000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert "coreutils: timeout (GNU coreutils)" in out, report     # bash and coreutils in L1
    assert "cpus: 1 online" in out and "process substitution ok" in out, report
    assert "probe: help ok" in out, report
    assert ("probe: status=128   Fatal: Unable to open kernel _NO_FILE_4Uhere_" in out), report
    # the guest: x0 = the device tree, its initrd read through /chosen, --params verbatim
    # (--nodefaults), --cpus 2, --pmu, and its status line; then PSCI SYSTEM_OFF: exit 0
    assert "bootargs: setup  smp=2\n" in out, report
    assert "cpus: 2\n" in out, report
    pmu = next(line for line in out.splitlines() if line.startswith("pmu: "))
    assert pmu != "pmu: 0", report
    for line in env.read_text().splitlines():
        assert f"env: {line}\n" in out, report
    assert "EXIT: STATUS=5\n" in out, report
    assert "run: status=0" in out, report
