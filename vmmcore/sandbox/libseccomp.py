"""libseccomp through cffi: the few calls the sandbox's filter needs.

libseccomp (Debian's ``libseccomp2``) turns rules written with system-call names
into a BPF program for the running architecture; vmm calls it directly, in cffi's
ABI mode like every other FFI of vmm (:func:`~vmm.core.kvm.ffiload.load_ffi`), with
no Python bindings in between. PyPI's ``pyseccomp`` found the library with
``ctypes.util.find_library``, which runs ``ldconfig -p`` in a subprocess and cost
every ``vmm run`` about 40 ms of CPU (docs/performance.md).

The enum values below are libseccomp's stable ABI (``<seccomp.h>``); a test compares
them with the header.
"""

from __future__ import annotations

import os
from typing import Any

from ..kvm.ffiload import load_ffi

ffi = load_ffi("libseccomp", """
struct vmm_scmp_arg_cmp {
    unsigned int arg;
    int op;
    uint64_t datum_a;
    uint64_t datum_b;
};
void *seccomp_init(uint32_t def_action);
void seccomp_release(void *ctx);
int seccomp_attr_set(void *ctx, int attr, uint32_t value);
int seccomp_syscall_resolve_name(const char *name);
char *seccomp_syscall_resolve_num_arch(uint32_t arch_token, int num);
int seccomp_rule_add_array(void *ctx, uint32_t action, int syscall, unsigned int arg_cnt,
                           const struct vmm_scmp_arg_cmp *arg_array);
int seccomp_export_pfc(void *ctx, int fd);
int seccomp_load(void *ctx);
void free(void *ptr);
""")

#: The shared object's name on Debian (and every distribution): the ABI of version 2.
LIBRARY = "libseccomp.so.2"

# Actions (SCMP_ACT_*)
ACT_ALLOW = 0x7FFF0000
ACT_TRAP = 0x00030000
ACT_ERRNO_BASE = 0x00050000
# Filter attributes (enum scmp_filter_attr)
FLTATR_CTL_TSYNC = 4
# Comparisons (enum scmp_compare)
CMP_EQ = 4
CMP_MASKED_EQ = 7
#: SCMP_ARCH_NATIVE: the architecture of the running process.
ARCH_NATIVE = 0
#: What seccomp_syscall_resolve_name answers for a name this architecture lacks.
NR_SCMP_ERROR = -1


class LibseccompError(OSError):
    """libseccomp is missing or refused a call (errno is the call's)."""


def act_errno(error: int) -> int:
    """SCMP_ACT_ERRNO(error): fail the call with ``error`` instead of making it."""
    return ACT_ERRNO_BASE | (error & 0xFFFF)


_library: Any = None


def library() -> Any:
    """The loaded libseccomp (once per process)."""
    global _library
    if _library is None:
        try:
            _library = ffi.dlopen(LIBRARY)
        except OSError as error:
            raise LibseccompError(f"{LIBRARY} not found ({error}): "
                                  "apt-get install libseccomp2") from None
    return _library


def syscall_number(name: str) -> int | None:
    """This architecture's number of system call ``name``, or None if it has none."""
    number = library().seccomp_syscall_resolve_name(name.encode())
    return None if number == NR_SCMP_ERROR else int(number)


def syscall_name(number: int) -> str | None:
    """The name of this architecture's system call ``number``, or None."""
    lib = library()
    name = lib.seccomp_syscall_resolve_num_arch(ARCH_NATIVE, number)
    if name == ffi.NULL:
        return None
    try:
        return str(ffi.string(name).decode())
    finally:
        lib.free(name)


def _check(result: int, what: str) -> None:
    if result < 0:  # libseccomp returns -errno
        raise LibseccompError(-result, f"{what}: {os.strerror(-result)}")


class Filter:
    """One seccomp filter being built: a default action, then rules, then load."""

    def __init__(self, default_action: int) -> None:
        self._lib = library()
        context = self._lib.seccomp_init(default_action)
        if context == ffi.NULL:
            raise LibseccompError("seccomp_init failed")
        self._context = ffi.gc(context, self._lib.seccomp_release)

    def synchronise_threads(self) -> None:
        """Load into every thread of the process, not only the calling one (TSYNC)."""
        _check(self._lib.seccomp_attr_set(self._context, FLTATR_CTL_TSYNC, 1),
               "seccomp_attr_set(TSYNC)")

    def add_rule(self, action: int, name: str, *conditions: tuple[int, int, int, int]) -> bool:
        """Take ``action`` on system call ``name`` when every ``(argument, comparison,
        a, b)`` condition holds; False if this architecture has no such call."""
        number = syscall_number(name)
        if number is None:
            return False
        array = ffi.new("struct vmm_scmp_arg_cmp[]", [
            {"arg": arg, "op": op, "datum_a": a, "datum_b": b} for arg, op, a, b in conditions])
        _check(self._lib.seccomp_rule_add_array(self._context, action, number, len(conditions),
                                                array), f"seccomp_rule_add({name})")
        return True

    def export_pfc(self, fd: int) -> None:
        """Write the filter as libseccomp's pseudo-filter code (readable text) to ``fd``."""
        _check(self._lib.seccomp_export_pfc(self._context, fd), "seccomp_export_pfc")

    def load(self) -> None:
        """Install the filter into the kernel: from now on it applies."""
        _check(self._lib.seccomp_load(self._context), "seccomp_load")
