"""Bad input to ``vmm run`` on x86: one line on stderr naming the problem and what to
do, exit status 1, no traceback, and nothing left in the temporary directory."""

from __future__ import annotations

import os
import shutil

import pytest

from vmm.core.testing.images import x86_bzimage

from .conftest import assert_one_line_error, run_vmm

#: Run as root without the capabilities that let root read any file.
NO_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


@pytest.fixture
def clean_tmp(tmp_path):
    """A TMPDIR for the vmm process; the test checks vmm left nothing in it."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    yield {"TMPDIR": str(scratch)}
    assert list(scratch.iterdir()) == []


@pytest.fixture
def unreadable(tmp_path):
    path = tmp_path / "unreadable.img"
    path.write_bytes(b"\x90" * 16)
    path.chmod(0)
    return path


def _without_dac_override(*args: str, env: dict[str, str]):
    """``vmm run ARGS`` in a process that cannot read a mode-000 file even as root."""
    import subprocess
    import sys

    if os.geteuid() != 0:
        return run_vmm(*args, env=env)
    if shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is needed to drop root's read-anything capability")
    command = [*NO_DAC, sys.executable, "-m", "vmm", "run", *args]
    return subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
                          env={**os.environ, **env})


def test_missing_kernel(clean_tmp):
    result = run_vmm("-k", "/nonexistent/bzImage", env=clean_tmp)
    assert_one_line_error(result, "kernel '/nonexistent/bzImage' does not exist", "-k/--kernel")


def test_kernel_that_is_a_directory(clean_tmp, tmp_path):
    result = run_vmm("-k", str(tmp_path), env=clean_tmp)
    assert_one_line_error(result, "is a directory")


def test_unreadable_kernel(clean_tmp, unreadable):
    result = _without_dac_override("-k", str(unreadable), env=clean_tmp)
    assert_one_line_error(result, "is not readable", "permissions")


def test_missing_initrd(clean_tmp):
    result = run_vmm("--dry-run", "-i", "/nonexistent/initrd", env=clean_tmp)
    assert_one_line_error(result, "initrd '/nonexistent/initrd' does not exist", "-i/--initrd")


def test_unreadable_initrd(clean_tmp, unreadable):
    result = _without_dac_override("--dry-run", "-i", str(unreadable), env=clean_tmp)
    assert_one_line_error(result, "initrd", "is not readable")


@pytest.mark.parametrize("mem, fragment", [("0", "at least 1 MiB"), ("2", "at least 4 MiB"),
                                           ("-5", "at least 1 MiB")])
def test_too_little_memory(clean_tmp, mem, fragment):
    result = run_vmm("--dry-run", "-m", mem, env=clean_tmp)
    assert_one_line_error(result, fragment)


def test_more_memory_than_the_host_has(clean_tmp):
    host_mib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") >> 20
    result = run_vmm("-m", str(host_mib * 2), env=clean_tmp)
    assert_one_line_error(result, "more memory than this host has", "ask for less")


def test_zero_vcpus(clean_tmp):
    result = run_vmm("--dry-run", "-c", "0", env=clean_tmp)
    assert_one_line_error(result, "-c/--cpus must be at least 1")


def test_more_vcpus_than_kvm_allows(clean_tmp):
    """KVM_CAP_MAX_VCPUS is checked before the VM exists; the model of KVM allows 8
    (this host's KVM allows 1024, more than an MP table describes: see below)."""
    result = run_vmm("--dry-run", "-c", "9", env=clean_tmp)
    assert_one_line_error(result, "-c 9", "at most 8 vCPUs")


def test_more_vcpus_than_an_mp_table_describes(clean_tmp):
    result = run_vmm("-c", "1000", env=clean_tmp)
    assert_one_line_error(result, "-c 1000", "at most 254; use fewer")


def test_initrd_that_does_not_fit(clean_tmp, tmp_path):
    kernel = tmp_path / "bzImage"
    kernel.write_bytes(x86_bzimage())
    initrd = tmp_path / "initrd"
    initrd.write_bytes(bytes(7 << 20))
    result = run_vmm("--dry-run", "-m", "8", "-k", str(kernel), "-i", str(initrd), env=clean_tmp)
    assert_one_line_error(result, "does not fit", "give more memory with -m")


def test_bzimage_with_a_too_old_boot_protocol(clean_tmp, tmp_path):
    kernel = tmp_path / "bzImage"
    kernel.write_bytes(x86_bzimage(version=0x0201))
    result = run_vmm("--dry-run", "-k", str(kernel), env=clean_tmp)
    assert_one_line_error(result, "boot protocol 2.01", "needs 2.06 or later")


def test_kvm_device_missing(clean_tmp):
    result = run_vmm(env={**clean_tmp, "VMM_KVM_DEVICE": "/nonexistent/kvm"})
    assert_one_line_error(result, "/nonexistent/kvm does not exist", "--dry-run")


def test_kvm_device_not_accessible(clean_tmp, unreadable):
    result = _without_dac_override(env={**clean_tmp, "VMM_KVM_DEVICE": str(unreadable)})
    assert_one_line_error(result, "is not accessible", "'kvm' group")


def test_kvm_device_that_is_not_kvm(clean_tmp, tmp_path):
    fake = tmp_path / "kvm"
    fake.write_bytes(b"")
    result = run_vmm(env={**clean_tmp, "VMM_KVM_DEVICE": str(fake)})
    assert_one_line_error(result, "KVM_GET_API_VERSION failed")


def test_debug_shows_the_traceback_instead(clean_tmp):
    result = run_vmm("-k", "/nonexistent/bzImage", "--debug", env=clean_tmp)
    assert result.returncode == 1
    assert "Traceback" in result.stderr.decode() or "ConfigError" in result.stderr.decode()
