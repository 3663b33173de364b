"""Realm VMs built through every plugin against the model of KVM, for lifecycle tests."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from vmm.core.testing.images import arm64_image
from vmm.plugins.arm64.registers import REGISTER_IDS

#: A kernel Image of 0x3040 bytes whose header declares 64 KiB (BSS included).
KERNEL = arm64_image(code=b"\x11" * 0x3000, image_size=0x10000)
INITRD = b"\x22" * 5000
RAM_START = 0x8000_0000
DTB = 0x8FE0_0000


def write_images(directory: Path) -> tuple[str, str]:
    """The test kernel and initrd as files; returns their paths."""
    kernel, initrd = directory / "Image", directory / "initrd"
    kernel.write_bytes(KERNEL)
    initrd.write_bytes(INITRD)
    return str(kernel), str(initrd)


def build_realm(vmm_vm, tmp_path: Path, cpus: int = 2, initrd: bool = True,
                dry_run: bool = True, **options):
    """A built (not yet running) realm VM with the test kernel and initrd
    (``dry_run=False``: with the host effects of a real run, such as locked RAM)."""
    kernel, initrd_path = write_images(tmp_path)
    vm = vmm_vm("arm64", kernel=kernel, initrd=initrd_path if initrd else None, cpus=cpus,
                dry_run=dry_run, options={"realm": True, **options})
    return vm.build()


REGISTER_NAMES = {reg_id: name for name, reg_id in REGISTER_IDS.items()}


def lifecycle(vm, names: Collection[str], terse: Collection[str] = ()) -> list[str]:
    """The calls of ``names`` in order, registers by name; those in ``terse`` without
    their details."""
    calls = []
    for call in vm.backend.log:
        if call.name not in names:
            continue
        if call.name == "KVM_SET_ONE_REG":
            reg_id = int(call.detail.removeprefix("id="), 16)
            calls.append(f"{call.target}: SET_ONE_REG {REGISTER_NAMES.get(reg_id, hex(reg_id))}")
        elif call.name in terse:
            calls.append(f"{call.target}: {call.name}")
        else:
            calls.append(str(call))
    return calls


def rme(what: str) -> str:
    """How the call log shows KVM_ENABLE_CAP(KVM_CAP_ARM_RME, ``what``)."""
    return f"vm: KVM_ENABLE_CAP(cap=300 {what})"
