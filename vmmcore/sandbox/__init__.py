"""The sandbox a running VM is confined to: a seccomp filter, no capabilities, no_new_privs.

What Firecracker's jailer and crosvm's minijail do, for a Python VMM: after the VM
is built (KVM fds, guest RAM, disks, TAPs, locked memory all set up) and before
the first KVM_RUN, the thread that starts the vCPUs drops every capability and
sets no_new_privs, then loads a seccomp filter, synchronised to every thread
(TSYNC), that allows only the calls a running VM makes (:mod:`.syscalls`). A
forbidden call ends vmm with one line naming it (:mod:`.trap`).

The filter is built with libseccomp (Debian's ``libseccomp2``), called through cffi
(:mod:`.libseccomp`).

``vmm run`` turns it on by default where it works (``--sandbox`` requires it,
``--no-sandbox`` turns it off); a process embedding vmm as a library (pytest, a
plugin author's harness) gets it only by asking (``Config.sandbox=True``).
"""

from __future__ import annotations

import errno
import logging
import os
from typing import TYPE_CHECKING

from ..errors import VmmError
from .syscalls import ALLOWED, IOCTL_REQUESTS, IOCTL_TYPE_MASK, IOCTL_TYPES, OPEN_CALLS

if TYPE_CHECKING:
    from .libseccomp import Filter

log = logging.getLogger(__name__)

#: Open flags that write or create: an open with any of them is forbidden.
WRITING_OPEN_FLAGS = os.O_ACCMODE | os.O_CREAT | os.O_TRUNC | os.O_APPEND
#: Which argument holds the flags, for the calls of :data:`OPEN_CALLS`.
OPEN_FLAGS_ARGUMENT = {"open": 1, "openat": 2}
#: clone() makes threads only: CLONE_THREAD must be set (a fork is forbidden).
CLONE_THREAD = 0x00010000
#: System call numbers with a prepared message (every arch has fewer than this).
MESSAGE_TABLE_SIZE = 1024


class SandboxError(VmmError):
    """``--sandbox`` was asked for and can't be set up here."""


_program = False


def declare_program() -> None:
    """This process is the ``vmm`` program (its entry point says so): a run's default
    (``Config.sandbox`` None) turns the sandbox on. A process importing vmm as a
    library never declares it, so it is sandboxed only with ``sandbox=True``."""
    global _program
    _program = True


def wanted(setting: bool | None) -> bool:
    """Whether a run with ``Config.sandbox == setting`` enters the sandbox."""
    return setting is True or (setting is None and _program)


def build_filter() -> Filter:
    """The filter: the calls of :mod:`.syscalls`, KVM and termios ioctls, read-only
    opens, threads-only clone; anything else traps (SIGSYS)."""
    from . import libseccomp  # only a run that enters the sandbox loads it

    allow, masked_eq, eq = libseccomp.ACT_ALLOW, libseccomp.CMP_MASKED_EQ, libseccomp.CMP_EQ
    syscall_filter = libseccomp.Filter(libseccomp.ACT_TRAP)
    syscall_filter.synchronise_threads()  # every thread, not only this one
    for names in ALLOWED.values():
        for name in names:
            _add(syscall_filter, allow, name)
    for request_type in IOCTL_TYPES.values():
        _add(syscall_filter, allow, "ioctl", (1, masked_eq, IOCTL_TYPE_MASK, request_type))
    for request in IOCTL_REQUESTS.values():
        _add(syscall_filter, allow, "ioctl", (1, eq, request, 0))
    for name in OPEN_CALLS:
        _add(syscall_filter, allow, name,
             (OPEN_FLAGS_ARGUMENT[name], masked_eq, WRITING_OPEN_FLAGS, 0))
    _add(syscall_filter, allow, "clone", (0, masked_eq, CLONE_THREAD, CLONE_THREAD))
    # clone3's flags are behind a pointer the filter can't read: ENOSYS makes the C
    # library fall back to clone for new threads.
    _add(syscall_filter, libseccomp.act_errno(errno.ENOSYS), "clone3")
    return syscall_filter


def _add(syscall_filter: Filter, action: int, name: str,
         *conditions: tuple[int, int, int, int]) -> None:
    if not syscall_filter.add_rule(action, name, *conditions):
        log.debug("sandbox: %s not in this architecture's filter", name)


def violation_message(number: int) -> bytes:
    """The line a forbidden call ``number`` ends vmm with."""
    from . import libseccomp

    name = libseccomp.syscall_name(number) or "unknown"
    return (f"vmm: error: the sandbox stopped a forbidden system call, {name} ({number}): "
            "a bug or an attack; report it (--no-sandbox runs without the sandbox)\n").encode()


def enter(required: bool) -> bool:
    """Confine this process from now on; return whether the sandbox is on.

    :param required: ``--sandbox``: a failure is a :class:`SandboxError`; else it is
        a warning and the VM runs without the sandbox.
    """
    import sys

    from . import capabilities, trap

    # Modules imported later (lazily, at teardown too) must not try to write their
    # bytecode: the filter refuses mkdir and writing opens.
    sys.dont_write_bytecode = True
    try:
        check_kernel()
        syscall_filter = build_filter()
        trap.install(violation_message, MESSAGE_TABLE_SIZE)
        capabilities.drop_all()
        capabilities.set_no_new_privs()
        syscall_filter.load()
    except (SandboxError, OSError) as error:
        if required:
            raise SandboxError(f"--sandbox: {error}") from None
        log.warning("running without the sandbox: %s (--no-sandbox hides this)", error)
        return False
    log.debug("sandbox on: %s", ", ".join(f"{k} {v}" for k, v in status().items()))
    return True


def check_kernel() -> None:
    """Raise :class:`SandboxError` when the kernel has no seccomp at all (its
    /proc/self/status then has no Seccomp line; the kit's emulated CCA host is one)."""
    if "Seccomp" not in status():
        raise SandboxError("this kernel has no seccomp (built without CONFIG_SECCOMP)")


def status() -> dict[str, str]:
    """What the kernel says of this thread's confinement (/proc/self/status)."""
    wanted = ("Seccomp", "NoNewPrivs", "CapEff", "CapPrm", "CapBnd")
    found: dict[str, str] = {}
    with open("/proc/self/status") as lines:
        for line in lines:
            key, _, value = line.partition(":")
            if key in wanted:
                found[key] = value.strip()
    return found
