"""Hooks that put the kernel, firmware and initrd in guest RAM (see :mod:`.image`),
and the built-in guest booted without a kernel (:mod:`.guest`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmm import hookimpl

if TYPE_CHECKING:
    from vmm.core.config import Config
    from vmm.core.images import LoadedImage
    from vmm.core.vm import Vm


@hookimpl
def vmm_builtin_guest(config: Config) -> str:
    """The built-in riscv guest: a greeting through the SBI console, then SRST."""
    from .guest import GUEST_PATH

    return str(GUEST_PATH)


@hookimpl
def vmm_load_kernel(vm: Vm, data: bytes, path: str) -> LoadedImage:
    """A riscv Image at RAM start + text_offset (2 MiB aligned)."""
    from .image import load_kernel

    return load_kernel(vm, data, path)


@hookimpl
def vmm_load_firmware(vm: Vm, data: bytes, path: str) -> LoadedImage:
    """A flat firmware at the start of RAM."""
    from .image import load_firmware

    return load_firmware(vm, data, path)


@hookimpl
def vmm_load_initrd(vm: Vm, data: bytes, path: str) -> LoadedImage:
    """The initrd as high as it fits below the device tree."""
    from .image import load_initrd

    return load_initrd(vm, data, path)
