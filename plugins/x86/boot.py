"""x86 image hooks: kernels and initrds (the formats live in :mod:`.image`), and the
built-in guest booted without a kernel (:mod:`.guest`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmm import hookimpl

if TYPE_CHECKING:
    from vmm.core.config import Config
    from vmm.core.images import LoadedImage
    from vmm.core.vm import Vm


@hookimpl
def vmm_builtin_guest(config: Config) -> str:
    """The built-in x86 guest: a flat real-mode binary that greets on COM1 and resets."""
    from .guest import builtin_guest_path

    return str(builtin_guest_path())


@hookimpl
def vmm_load_kernel(vm: Vm, data: bytes, path: str) -> LoadedImage:
    """A bzImage (64-bit boot protocol), an ELF64 vmlinux (PVH entry when its Xen
    note has one, else the 64-bit protocol), or with ``--flat`` (and for the built-in
    guest) a flat real-mode binary at 1000:0000; anything else is a one-line
    ImageError."""
    from .image import load_kernel

    return load_kernel(vm, data, path)


@hookimpl
def vmm_load_initrd(vm: Vm, data: bytes, path: str) -> LoadedImage:
    """The initrd as high in low RAM as the kernel's protocol allows, above the
    kernel; a one-line ImageError when it does not fit."""
    from .image import load_initrd

    return load_initrd(vm, data, path)
