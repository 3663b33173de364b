"""Project-written guests on this host's real /dev/kvm, through ``vmm run``.

Each test runs vmm as a subprocess and checks the guest's serial output and vmm's
exit status (0: the guest reset the machine through the i8042).
"""

from __future__ import annotations

import re
import time
from datetime import UTC

import pytest

from .conftest import assert_one_line_error, run_vmm

pytestmark = pytest.mark.kvm


def test_builtin_guest_prints_banner_and_resets(require_kvm):
    result = run_vmm()
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"vmm: built-in guest: hello from real mode, 1 vCPU\n"


def test_builtin_guest_counts_two_vcpus_from_the_mp_table(require_kvm):
    result = run_vmm("-c", "2")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"vmm: built-in guest: hello from real mode, 2 vCPUs\n"


def test_real_mode_flat_binary(require_kvm, build):
    result = run_vmm("--flat", "-k", str(build("hello16")))
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"real mode guest: hello from 1000:0000\n"


def test_serial_input_from_a_pipe_reaches_the_guest(require_kvm, build):
    result = run_vmm("--flat", "-k", str(build("echo16")), input=b"ping from the host\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"echo guest: ping from the host\n"


def test_one_hundred_thousand_port_io_exits(require_kvm, build):
    started = time.perf_counter()
    result = run_vmm("--flat", "-k", str(build("pio16")), timeout=300)
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"pio guest: start\npio guest: 100000 port writes done\n"
    print(f"\n100000 port-I/O exits: {elapsed:.2f} s for the whole run, "
          f"{100000 / elapsed:,.0f} exits/s, {elapsed / 100000 * 1e6:.1f} us/exit (upper bound)")


def test_long_mode_elf_reads_boot_params(require_kvm, build):
    result = run_vmm("-k", str(build("long64")), "-p", "console=ttyS0 hello=world")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().splitlines() == [
        "long mode guest: hello from 64-bit mode on the boot vCPU",
        "long mode guest: command line: console=ttyS0 hello=world",
        "long mode guest: e820 entries: 3",
        "long mode guest: 1 vCPUs up, resetting",
    ]


def test_long_mode_guest_starts_its_second_vcpu_with_init_sipi(require_kvm, build):
    result = run_vmm("-k", str(build("long64")), "-c", "2", "-p", "smp")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[0] == "long mode guest: hello from 64-bit mode on the boot vCPU"
    assert "long mode guest: vCPU with APIC id 1 is up (real mode, after SIPI)" in lines
    assert lines[-1] == "long mode guest: 2 vCPUs up, resetting"


def test_pvh_entry_gets_start_info_with_cmdline_memmap_and_initrd(require_kvm, build, tmp_path):
    initrd = tmp_path / "initrd.img"
    initrd.write_bytes(b"\x5a" * 8192)
    result = run_vmm("-k", str(build("pvh32")), "-p", "pvh=yes", "-i", str(initrd))
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().splitlines() == [
        "pvh guest: hello from 32-bit protected mode",
        "pvh guest: command line: pvh=yes",
        "pvh guest: memory map entries: 3, modules: 1",
    ]


def test_real_mode_guest_reads_the_cmos_rtc(require_kvm, build):
    """The guest reads registers A and D and the binary 24-hour time through ports
    0x70/0x71: no update in progress, valid time, and the host's UTC time."""
    from datetime import datetime

    def seconds_of_day(now: datetime) -> int:
        return now.hour * 3600 + now.minute * 60 + now.second

    before = seconds_of_day(datetime.now(UTC))
    result = run_vmm("--flat", "-k", str(build("rtc16")))
    after = seconds_of_day(datetime.now(UTC))
    assert result.returncode == 0, result.stderr
    match = re.fullmatch(rb"rtc guest: A=38 D=128 time=(\d+):(\d+):(\d+)\n", result.stdout)
    assert match, result.stdout
    hours, minutes, seconds = map(int, match.groups())
    guest = hours * 3600 + minutes * 60 + seconds
    assert (guest - before) % 86400 <= (after - before) % 86400, (before, guest, after)


def test_e820_map_is_logged_with_debug(require_kvm, build):
    result = run_vmm("--flat", "-k", str(build("hello16")), "-m", "64", "--debug")
    assert result.returncode == 0, result.stderr
    e820 = [line.split("e820: ", 1)[1] for line in result.stderr.decode().splitlines()
            if "e820: BIOS-e820" in line]
    assert e820 == [
        "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
        "BIOS-e820: [mem 0x000000000009fc00-0x00000000000fffff] reserved",
        "BIOS-e820: [mem 0x0000000000100000-0x0000000003ffffff] usable",
    ]


def test_terminal_input_reaches_the_guest_and_the_terminal_is_restored(require_kvm, build):
    """stdin on a terminal: vmm turns off line buffering and echo while the guest
    runs (each key goes to the UART at once) and restores the settings on exit."""
    import os
    import pty
    import subprocess
    import sys
    import termios

    master, slave = pty.openpty()
    try:
        before = termios.tcgetattr(slave)
        process = subprocess.Popen(
            [sys.executable, "-m", "vmm", "run", "--flat", "-k", str(build("echo16"))],
            stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait until vmm switched the terminal
            if not termios.tcgetattr(slave)[3] & termios.ICANON:
                break
            time.sleep(0.05)
        os.write(master, b"typed\n")
        stdout, stderr = process.communicate(timeout=60)
        after = termios.tcgetattr(slave)
    finally:
        os.close(master)
        os.close(slave)
    assert process.returncode == 0, stderr
    assert stdout == b"echo guest: typed\n"
    assert after == before


def test_emulation_failure_is_one_line_with_the_rip(require_kvm, build):
    """PVM emulates every instruction of a non-PVM guest and can't do CMPXCHG16B:
    vmm reports KVM_EXIT_INTERNAL_ERROR as one line naming the instruction's rip.
    (Hardware KVM runs it natively; then the guest says so and resets.)"""
    import subprocess

    guest = build("emufail64")
    symbols = subprocess.run(["nm", str(guest)], capture_output=True, text=True, check=True).stdout
    fail_here = next(int(line.split()[0], 16) for line in symbols.splitlines()
                     if line.endswith(" fail_here"))
    result = run_vmm("-k", str(guest))
    assert result.stdout.startswith(b"emulation guest: executing cmpxchg16b\n")
    if result.returncode == 0:
        assert result.stdout.endswith(b"emulation guest: cmpxchg16b ran natively\n")
        return
    line = assert_one_line_error(result, "vCPU 0: KVM could not emulate the guest instruction")
    assert f"at rip {fail_here:#x} " in line
