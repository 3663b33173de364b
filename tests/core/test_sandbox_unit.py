"""The sandbox's pieces that need no KVM: declarations against the C headers, the
filter's rules, and when a run enters it (tests/x86/test_sandbox.py runs it)."""

from __future__ import annotations

import pytest

from vmm.core import sandbox
from vmm.core.testing import skip_or_fail
from vmm.core.testing.cheaders import compiler_values, mismatches


def c_values(headers, expressions):
    try:
        return compiler_values(headers, expressions)
    except RuntimeError as error:
        skip_or_fail(f"no C view of {headers}: {error}")


def test_sigaction_and_siginfo_match_the_c_library():
    from vmm.core.sandbox.trap import ffi

    expected = {
        "sizeof(struct sigaction)": ffi.sizeof("struct vmm_sigaction"),
        "offsetof(struct sigaction, sa_mask)": ffi.offsetof("struct vmm_sigaction", "sa_mask"),
        "offsetof(struct sigaction, sa_flags)": ffi.offsetof("struct vmm_sigaction", "sa_flags"),
        "offsetof(siginfo_t, si_syscall)": ffi.offsetof("struct vmm_siginfo_sigsys",
                                                        "si_syscall"),
        "offsetof(siginfo_t, si_arch)": ffi.offsetof("struct vmm_siginfo_sigsys", "si_arch"),
        "SA_SIGINFO": 4,
    }
    assert mismatches(expected, c_values(["signal.h"], expected)) == []


def test_capability_declarations_match_the_kernel():
    from vmm.core.sandbox import capabilities as caps

    expected = {
        "sizeof(struct __user_cap_header_struct)": caps.ffi.sizeof("struct vmm_cap_header"),
        "sizeof(struct __user_cap_data_struct)": caps.ffi.sizeof("struct vmm_cap_data"),
        "_LINUX_CAPABILITY_VERSION_3": caps.LINUX_CAPABILITY_VERSION_3,
        "PR_CAPBSET_DROP": caps.PR_CAPBSET_DROP, "PR_SET_NO_NEW_PRIVS": caps.PR_SET_NO_NEW_PRIVS,
        "PR_CAP_AMBIENT": caps.PR_CAP_AMBIENT,
        "PR_CAP_AMBIENT_CLEAR_ALL": caps.PR_CAP_AMBIENT_CLEAR_ALL,
        "CLONE_THREAD": sandbox.CLONE_THREAD,
    }
    headers = ["linux/capability.h", "linux/prctl.h", "linux/sched.h"]
    assert mismatches(expected, c_values(headers, expected)) == []


def test_libseccomp_constants_match_its_header():
    from vmm.core.sandbox import libseccomp as lib

    expected = {
        "SCMP_ACT_ALLOW": lib.ACT_ALLOW, "SCMP_ACT_TRAP": lib.ACT_TRAP,
        "SCMP_ACT_ERRNO(38)": lib.act_errno(38), "SCMP_FLTATR_CTL_TSYNC": lib.FLTATR_CTL_TSYNC,
        "SCMP_CMP_EQ": lib.CMP_EQ, "SCMP_CMP_MASKED_EQ": lib.CMP_MASKED_EQ,
        "SCMP_ARCH_NATIVE": lib.ARCH_NATIVE,
        "sizeof(struct scmp_arg_cmp)": lib.ffi.sizeof("struct vmm_scmp_arg_cmp"),
        "offsetof(struct scmp_arg_cmp, datum_a)": lib.ffi.offsetof("struct vmm_scmp_arg_cmp",
                                                                   "datum_a"),
    }
    assert mismatches(expected, c_values(["seccomp.h"], expected)) == []


def test_the_filter_is_built_from_the_measured_list():
    from vmm.core.sandbox.libseccomp import syscall_number

    text = _pfc(sandbox.build_filter())
    for name in ("ioctl", "futex", "epoll_wait", "pwritev", "fdatasync", "exit_group"):
        assert f"if ($syscall == {syscall_number(name)})" in text
    for name in ("socket", "execve", "ptrace", "mount", "kill"):
        assert f"== {syscall_number(name)})" not in text
    assert syscall_number("no_such_call") is None


def _pfc(syscall_filter) -> str:
    import tempfile

    with tempfile.TemporaryFile("w+") as handle:
        syscall_filter.export_pfc(handle.fileno())
        handle.seek(0)
        return handle.read()


@pytest.mark.parametrize("setting, program, entered", [
    (True, False, True), (None, True, True), (None, False, False), (False, True, False)])
def test_who_gets_the_sandbox(monkeypatch, setting, program, entered):
    """The vmm program by default, a library only when it asks."""
    monkeypatch.setattr(sandbox, "_program", program)
    assert sandbox.wanted(setting) is entered


def test_violation_message_names_the_call():
    from vmm.core.sandbox.libseccomp import syscall_number

    number = syscall_number("execve")
    message = sandbox.violation_message(number).decode()
    assert message.startswith(f"vmm: error: the sandbox stopped a forbidden system call, "
                              f"execve ({number})") and message.endswith("\n")
    assert message.count("\n") == 1


@pytest.mark.parametrize("required", [False, True])
def test_a_kernel_without_seccomp_runs_unsandboxed_or_refuses(monkeypatch, caplog, required):
    """Such a kernel (the emulated CCA host's) gives a warning, or a one-line error
    with --sandbox, before anything is dropped or loaded."""
    import sys

    monkeypatch.setattr(sys, "dont_write_bytecode", sys.dont_write_bytecode)
    monkeypatch.setattr(sandbox, "status", lambda: {"NoNewPrivs": "0"})
    monkeypatch.setattr(sandbox, "build_filter", lambda: pytest.fail("went past the check"))
    if required:
        with pytest.raises(sandbox.SandboxError, match="--sandbox: this kernel has no seccomp"):
            sandbox.enter(required=True)
    else:
        assert sandbox.enter(required=False) is False
        assert "running without the sandbox: this kernel has no seccomp" in caplog.text
