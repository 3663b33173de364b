"""Writing exits into a modelled ``kvm_run`` area, laid out as the kernel does.

The exits every architecture has are written here; an arch's own kinds (riscv's
``riscv_sbi``) by its model's :meth:`~vmm.core.model.base.ArchModel.write_exit`.

Offsets are the kernel's (include/uapi/linux/kvm.h), restated independently of the
cffi declarations so the header test and the model check each other.
"""

from __future__ import annotations

import struct
from typing import Any

IMMEDIATE_EXIT = 1
EXIT_REASON = 8
EXIT_UNION = 32
PIO_DATA_OFFSET = 4096  # the kernel's KVM_PIO_PAGE_OFFSET page

EXIT_REASONS = {
    "io": 2,
    "hlt": 5,
    "mmio": 6,
    "shutdown": 8,
    "intr": 10,
    "internal_error": 17,
    "system_event": 24,
    "memory_fault": 39,
}


def write_exit(area: bytearray, kind: str, fields: dict[str, Any]) -> tuple[str, int, int, int] | None:
    """Fill ``area`` with an exit; return what a read must later be collected from.

    Returns ``(kind, address, offset, size)`` for reads (port I/O in, MMIO read),
    so the model can record the VMM's answer at the next KVM_RUN.
    """
    struct.pack_into("<I", area, EXIT_REASON, EXIT_REASONS[kind])
    if kind == "io":
        size, count = fields.get("size", 1), fields.get("count", 1)
        is_write = fields.get("is_write", True)
        struct.pack_into("<BBHIQ", area, EXIT_UNION, 1 if is_write else 0, size,
                         fields["port"], count, PIO_DATA_OFFSET)
        data = fields.get("data", b"\0" * (size * count))
        area[PIO_DATA_OFFSET : PIO_DATA_OFFSET + len(data)] = data
        return None if is_write else ("io", fields["port"], PIO_DATA_OFFSET, size * count)
    if kind == "mmio":
        size = fields.get("size", 4)
        is_write = fields.get("is_write", False)
        data = fields.get("data", b"\0" * size).ljust(8, b"\0")
        struct.pack_into("<Q8sIB", area, EXIT_UNION, fields["addr"], data, size, int(is_write))
        return None if is_write else ("mmio", fields["addr"], EXIT_UNION + 8, size)
    if kind == "system_event":
        data = list(fields.get("data", []))
        struct.pack_into("<II", area, EXIT_UNION, fields["type"], len(data))
        struct.pack_into(f"<{len(data)}Q", area, EXIT_UNION + 8, *data)
        return None
    if kind == "memory_fault":
        struct.pack_into("<QQQ", area, EXIT_UNION, fields.get("flags", 0), fields["gpa"],
                         fields["size"])
        return None
    if kind == "internal_error":
        struct.pack_into("<II", area, EXIT_UNION, fields.get("suberror", 1), 0)
    return None


def immediate_exit(area: bytearray) -> bool:
    return area[IMMEDIATE_EXIT] != 0
