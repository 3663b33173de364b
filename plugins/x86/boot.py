"""The boot vCPU's start state for each boot protocol, and the boot structures
(GDT, identity map) the protected- and long-mode protocols need in guest memory."""

from __future__ import annotations

from vmm.core.errors import ImageError
from vmm.core.vm import Vm

from . import cpumodes
from . import layout as m
from .state import LINUX_64, PVH, REAL_MODE, x86_state


def boot_registers(vm: Vm) -> dict[str, int]:
    """Registers that start the loaded kernel per its protocol (see :mod:`.state`)."""
    boot = x86_state(vm).boot
    if boot is None:
        raise ImageError("no x86 kernel was loaded")
    if boot.protocol == REAL_MODE:
        return cpumodes.real_mode_registers(m.REAL_MODE_SEGMENT, boot.entry, m.REAL_MODE_STACK)
    gdt = cpumodes.write_boot_gdt(vm.memory)
    if boot.protocol == PVH:
        registers = cpumodes.protected_mode_registers(gdt, boot.entry)
        registers["rbx"] = boot.boot_struct
        return registers
    if boot.protocol == LINUX_64:
        cr3 = cpumodes.write_identity_page_tables(vm.memory)
        registers = cpumodes.long_mode_registers(gdt, cr3, boot.entry)
        registers["rsi"] = boot.boot_struct
        return registers
    raise ImageError(f"unknown x86 boot protocol {boot.protocol!r}")
