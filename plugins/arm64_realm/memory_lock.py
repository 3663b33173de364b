"""Locking realm RAM in memory (kvmtool patch 11), through libc's ``mlock2``.

A realm's pages are delegated to the RMM and must not be swapped or merged, so its
RAM is locked with ``mlock2(MLOCK_ONFAULT)`` (pages are locked as they are touched;
nothing is faulted in up front) after a best-effort raise of RLIMIT_MEMLOCK, and it
is never offered to KSM.

Against the model of KVM (``--dry-run``) nothing is delegated: a failed lock (a low
RLIMIT_MEMLOCK without CAP_IPC_LOCK) does not stop the dry run; it is reported in
the dry-run report instead. Against real KVM it is fatal, as in kvmtool.
"""

from __future__ import annotations

import logging
import os
import resource
from functools import lru_cache
from typing import Any

from vmm.core.errors import VmmError
from vmm.core.kvm.ffiload import load_ffi

from .uapi import MLOCK_ONFAULT

log = logging.getLogger(__name__)

#: Declared at import (a cached module, no C parsing) so that ``vmm nested`` finds it.
ffi = load_ffi("libc_mlock2", "int mlock2(const void *addr, size_t len, unsigned int flags);")


class MemoryLockError(VmmError):
    """Realm RAM could not be locked in memory."""


@lru_cache(maxsize=1)
def _libc() -> Any:
    return ffi.dlopen(None)


def raise_memlock_limit(size: int) -> None:
    """Raise RLIMIT_MEMLOCK to ``size`` unless it is already above; failures are
    ignored (raising the hard limit needs CAP_SYS_RESOURCE)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    if soft == resource.RLIM_INFINITY or soft > size:
        return
    new_hard = hard if hard == resource.RLIM_INFINITY else max(size, hard)
    try:
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (size, new_hard))
    except (OSError, ValueError) as error:
        log.debug("could not raise RLIMIT_MEMLOCK to %d bytes: %s", size, error)


def lock_on_fault(address: int, size: int) -> None:
    """``mlock2(address, size, MLOCK_ONFAULT)``; MemoryLockError on failure."""
    libc = _libc()
    try:
        mlock2 = libc.mlock2
    except AttributeError:
        raise MemoryLockError("this C library has no mlock2: realm RAM can't be locked") from None
    if mlock2(ffi.cast("void *", address), size, MLOCK_ONFAULT) != 0:
        code = ffi.errno
        raise MemoryLockError(
            f"can't lock {size >> 20} MiB of realm RAM in memory (mlock2: {os.strerror(code)}); "
            "raise the memlock limit (ulimit -l) or run with CAP_IPC_LOCK"
        )


def lock_realm_ram(address: int, size: int) -> None:
    """kvmtool's realm RAM set-up: raise the limit, then lock on fault."""
    raise_memlock_limit(size)
    lock_on_fault(address, size)
