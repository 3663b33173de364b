"""Register access by name for an x86 vCPU (``vcpu.registers``).

Names are ``kvm_regs`` fields (``rax`` ... ``rip``, ``rflags``), the control
registers in ``kvm_sregs`` (``cr0``, ``cr3``, ``cr4``, ``efer``, ``apic_base`` ...),
segment fields as ``cs.selector``/``cs.base``/``cs.limit``/``cs.type``... and
descriptor tables as ``gdt.base``/``gdt.limit``. Writes are gathered in a cached
copy and reach KVM in one KVM_SET_REGS/KVM_SET_SREGS when :meth:`flush` runs
(``vmm_vcpu_finalize``), so setting twenty boot registers costs two ioctls.
"""

from __future__ import annotations

from typing import Any

from vmm.core.kvm.fds import VcpuFd

from . import uapi as x
from .uapi import ffi

GENERAL = tuple(field for field, _ in ffi.typeof("struct kvm_regs").fields)
SEGMENTS = ("cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt")
SEGMENT_FIELDS = tuple(field for field, _ in ffi.typeof("struct kvm_segment").fields)
TABLES = ("gdt", "idt")
TABLE_FIELDS = ("base", "limit")
SPECIAL = ("cr0", "cr2", "cr3", "cr4", "cr8", "efer", "apic_base")


class X86Registers:
    """``set(name, value)``/``get(name)`` over KVM_GET/SET_REGS and _SREGS."""

    def __init__(self, fd: VcpuFd) -> None:
        self._fd = fd
        self._regs = ffi.new("struct kvm_regs *")
        self._sregs = ffi.new("struct kvm_sregs *")
        self._regs_dirty = False
        self._sregs_dirty = False

    def _locate(self, name: str) -> tuple[Any, str, bool]:
        """(struct holding the field, field name, whether it is in sregs)."""
        if name in GENERAL:
            return self._regs, name, False
        if name in SPECIAL:
            return self._sregs, name, True
        group, _, field = name.partition(".")
        if group in SEGMENTS and field in SEGMENT_FIELDS:
            return getattr(self._sregs, group), field, True
        if group in TABLES and field in TABLE_FIELDS:
            return getattr(self._sregs, group), field, True
        raise KeyError(f"unknown x86 register {name!r}")

    def _load(self, in_sregs: bool) -> None:
        if in_sregs and not self._sregs_dirty:
            self._fd.call(x.KVM_GET_SREGS, self._sregs)
        elif not in_sregs and not self._regs_dirty:
            self._fd.call(x.KVM_GET_REGS, self._regs)

    def set(self, name: str, value: int) -> None:
        """Set one register (written to KVM by :meth:`flush`)."""
        holder, field, in_sregs = self._locate(name)
        self._load(in_sregs)
        setattr(holder, field, value)
        if in_sregs:
            self._sregs_dirty = True
        else:
            self._regs_dirty = True

    def get(self, name: str) -> int:
        """Read one register (a pending write, or KVM's current value)."""
        holder, field, in_sregs = self._locate(name)
        self._load(in_sregs)
        return int(getattr(holder, field))

    def flush(self) -> None:
        """Write pending changes with KVM_SET_SREGS and KVM_SET_REGS."""
        if self._sregs_dirty:
            self._fd.call(x.KVM_SET_SREGS, self._sregs)
            self._sregs_dirty = False
        if self._regs_dirty:
            self._fd.call(x.KVM_SET_REGS, self._regs)
            self._regs_dirty = False

    def dump(self) -> str:
        """A multi-line rendering of the general, control and segment registers."""
        self._load(False)
        self._load(True)
        regs, sregs = self._regs, self._sregs
        lines = []
        for row in (GENERAL[i : i + 4] for i in range(0, len(GENERAL), 4)):
            lines.append("  ".join(f"{name:>6}={getattr(regs, name):016x}" for name in row))
        lines.append("  ".join(f"{name:>6}={getattr(sregs, name):016x}" for name in SPECIAL[:4]))
        lines.append(f"  efer={sregs.efer:016x}  apic_base={sregs.apic_base:016x}")
        for seg in SEGMENTS:
            s = getattr(sregs, seg)
            lines.append(f"  {seg:>3}: sel={s.selector:04x} base={s.base:016x} "
                         f"limit={s.limit:08x} type={s.type:x} p={s.present} dpl={s.dpl} "
                         f"db={s.db} s={s.s} l={s.l} g={s.g}")
        for table in TABLES:
            t = getattr(sregs, table)
            lines.append(f"  {table}: base={t.base:016x} limit={t.limit:04x}")
        return "\n".join(lines)
