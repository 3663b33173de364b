"""x86 image hooks: kernels and initrds (the formats live in :mod:`.loader`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmm import hookimpl

if TYPE_CHECKING:
    from vmm.core.images import LoadedImage
    from vmm.core.options import OptionGroup
    from vmm.core.vm import Vm


@hookimpl
def vmm_addoption(group: OptionGroup) -> None:
    """``--flat``: boot a flat real-mode binary (never guessed from the file)."""
    group.addoption("--flat", type=bool, help="The kernel is a flat real-mode binary, "
                    "run at 1000:0000 (x86 recognises bzImage and ELF64 kernels itself).")


@hookimpl
def vmm_load_kernel(vm: Vm, data: bytes, path: str) -> LoadedImage:
    """A bzImage (64-bit boot protocol), an ELF64 vmlinux (PVH entry when its Xen
    note has one, else the 64-bit protocol), or with ``--flat`` a flat real-mode
    binary at 1000:0000; anything else is a one-line ImageError."""
    from .loader import load_kernel

    return load_kernel(vm, data, path)


@hookimpl
def vmm_load_initrd(vm: Vm, data: bytes, path: str) -> LoadedImage:
    """The initrd as high in low RAM as the kernel's protocol allows, above the
    kernel; a one-line ImageError when it does not fit."""
    from .loader import load_initrd

    return load_initrd(vm, data, path)
