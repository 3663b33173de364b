"""The SIGSYS handler: a forbidden system call ends vmm with one line naming it.

The filter answers a call it does not allow with SECCOMP_RET_TRAP: the kernel does
not make the call and sends SIGSYS to the thread that tried, with the call's number
in ``siginfo.si_syscall``. Python's own signal handlers run later, on the main
thread, without the siginfo, so the handler is a cffi callback installed with
``sigaction(SA_SIGINFO)``: it runs on the offending thread, looks the number up in
a table of messages prepared beforehand, writes it to stderr and ``_exit``s with
status 1 (``write`` and ``exit_group`` are allowed calls).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

from ..kvm.ffiload import load_ffi

#: glibc's struct sigaction and the start of siginfo_t for SIGSYS (the same on
#: x86_64, arm64 and riscv64); a test compares them with <signal.h>.
ffi = load_ffi("sigsys", """
struct vmm_sigaction {
    void (*sa_sigaction)(int, void *, void *);
    uint64_t sa_mask[16];
    int sa_flags;
    void (*sa_restorer)(void);
};
struct vmm_siginfo_sigsys {
    int si_signo;
    int si_errno;
    int si_code;
    int pad;
    void *call_addr;
    int si_syscall;
    unsigned int si_arch;
};
int sigaction(int signum, const struct vmm_sigaction *act, struct vmm_sigaction *oldact);
""")

SA_SIGINFO = 4
EXIT_STATUS = 1
STDERR = 2

_installed: dict[str, Any] = {}


def install(message_for: Callable[[int], bytes], count: int) -> None:
    """Make SIGSYS end the process with ``message_for(number)`` on stderr.

    :param count: messages are prepared for system call numbers ``0..count-1``
        now; the handler itself only looks one up, writes it and exits.
    """
    messages = [message_for(number) for number in range(count)]
    fallback = message_for(-1)

    def on_sigsys(signum: int, info: Any, context: Any) -> None:
        number = ffi.cast("struct vmm_siginfo_sigsys *", info).si_syscall
        os.write(STDERR, messages[number] if 0 <= number < count else fallback)
        os._exit(EXIT_STATUS)

    callback = ffi.callback("void(int, void *, void *)", on_sigsys)
    action = ffi.new("struct vmm_sigaction *")
    action.sa_sigaction = callback
    action.sa_flags = SA_SIGINFO
    libc = ffi.dlopen(None)
    if libc.sigaction(signal.SIGSYS, action, ffi.NULL) != 0:
        raise OSError(ffi.errno, os.strerror(ffi.errno), "sigaction(SIGSYS)")
    _installed.update(callback=callback, action=action, libc=libc)  # kept alive
