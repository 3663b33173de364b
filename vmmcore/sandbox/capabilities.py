"""Dropping every capability, and no_new_privs.

A running VM needs no capability: /dev/kvm, the TAP interface, the disks and
locked memory were opened or set up while the VM was built. The bounding and
ambient sets are emptied (so nothing started later can regain one), then the
effective, permitted and inheritable sets with ``capset``. Capabilities belong to
a thread: this runs on the thread that goes on to start the vCPU and I/O threads,
which inherit the empty sets. no_new_privs stops an execve from gaining any.
"""

from __future__ import annotations

import errno
import os
from typing import Any

from ..kvm.ffiload import load_ffi

ffi = load_ffi("capabilities", """
struct vmm_cap_header { uint32_t version; int pid; };
struct vmm_cap_data { uint32_t effective; uint32_t permitted; uint32_t inheritable; };
int capset(struct vmm_cap_header *header, const struct vmm_cap_data *data);
int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4,
          unsigned long arg5);
""")

PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
LINUX_CAPABILITY_VERSION_3 = 0x20080522
#: Version 3 takes two data structs (64 capability bits).
CAP_DATA_WORDS = 2
#: More than the kernel has: dropping stops at the first EINVAL.
CAP_LIMIT = 64


def _libc() -> Any:  # cffi's dlopen library
    return ffi.dlopen(None)


def set_no_new_privs() -> None:
    if _libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ffi.errno, os.strerror(ffi.errno), "prctl(PR_SET_NO_NEW_PRIVS)")


def drop_all() -> None:
    """Empty this thread's bounding, ambient, effective, permitted and inheritable sets."""
    libc = _libc()
    for capability in range(CAP_LIMIT):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            if ffi.errno == errno.EINVAL:
                break  # past the kernel's last capability
            if ffi.errno != errno.EPERM:  # EPERM: without CAP_SETPCAP there is none to drop
                raise OSError(ffi.errno, os.strerror(ffi.errno), "prctl(PR_CAPBSET_DROP)")
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)  # EINVAL before 4.3
    header = ffi.new("struct vmm_cap_header *", {"version": LINUX_CAPABILITY_VERSION_3})
    data = ffi.new(f"struct vmm_cap_data[{CAP_DATA_WORDS}]")
    if libc.capset(header, data) != 0:
        raise OSError(ffi.errno, os.strerror(ffi.errno), "capset")
