"""A real Debian x86_64 kernel on this host's /dev/kvm, started at its PVH entry.

The host's KVM is PVM: a stock kernel runs in KVM's instruction emulator and, per
the measured host facts, stops much later on an instruction PVM can't emulate. The
test only needs the first lines: the kernel's version, the command line vmm gave
it, the e820 map it received, which must be the one vmm built (``--debug``
logs it), and the two vCPUs and the IOAPIC it found in vmm's MP table. Then the
test ends vmm with SIGTERM and checks nothing is left behind.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import time

import pytest

from vmm.core.testing import skip_or_fail

from .debian_kernel import debian_vmlinux

pytestmark = pytest.mark.kvm

CMDLINE = "earlyprintk=serial console=ttyS0 loglevel=8 vmm.test=pvh"
DEADLINE_SECONDS = 240
IOAPIC_LINE = re.compile(rb"IOAPIC\[0\][^\n]*\n")
E820_LINE = re.compile(rb"(BIOS-e820: \[mem 0x[0-9a-f]+-0x[0-9a-f]+\] \w+)")


@pytest.fixture(scope="module")
def vmlinux():
    try:
        return debian_vmlinux()
    except Exception as error:  # no mirror, no network, no apt
        skip_or_fail(f"cannot get a Debian x86_64 kernel: {error}")


def _read_until(process: subprocess.Popen, done, deadline: float) -> bytes:
    """Collect stdout until ``done(output)`` or the deadline; never blocks past it."""
    output = b""
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    while time.monotonic() < deadline and not done(output):
        if not selector.select(timeout=1):
            if process.poll() is not None:
                break
            continue
        chunk = os.read(process.stdout.fileno(), 65536)
        if not chunk:
            break
        output += chunk
    selector.close()
    return output


def test_debian_kernel_boots_at_pvh_entry_with_vmms_cmdline_and_e820(require_kvm, vmlinux,
                                                                     tmp_path):
    package, kernel = vmlinux
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    command = [sys.executable, "-m", "vmm", "run", "-k", str(kernel), "-m", "512",
               "-c", "2", "-p", CMDLINE, "--debug"]
    stderr_path = tmp_path / "vmm.stderr"
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=stderr, env={**os.environ, "TMPDIR": str(scratch)})
        try:
            def done(output: bytes) -> bool:
                return b"Command line:" in output and IOAPIC_LINE.search(output) is not None

            output = _read_until(process, done, time.monotonic() + DEADLINE_SECONDS)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    log = stderr_path.read_bytes().decode(errors="replace")
    text = output.decode(errors="replace")
    assert "Linux version" in text, (text[-2000:], log[-2000:])
    assert f"Command line: {CMDLINE}" in text
    guest_map = E820_LINE.findall(output)
    vmm_map = re.findall(r"e820: (BIOS-e820: .*)", log)
    assert len(vmm_map) == 3
    assert [line.decode() for line in guest_map] == vmm_map
    # Linux found both vCPUs and the IOAPIC in vmm's MP table
    assert "MPTABLE: OEM ID: VMM" in text
    assert "Processor #0 (Bootup-CPU)" in text and "Processor #1" in text
    assert "IOAPIC[0]: apic_id 2, version 17, address 0xfec00000" in text
    print(f"\n{package}: {text.splitlines()[0]}")
    # SIGTERM ended vmm cleanly: status 128+15, no traceback, nothing left behind
    assert process.returncode == 128 + signal.SIGTERM, log[-2000:]
    assert "Traceback" not in log
    assert list(scratch.iterdir()) == []
