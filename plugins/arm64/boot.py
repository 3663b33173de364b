"""Hooks that put the kernel, firmware and initrd in guest RAM (see :mod:`.image`),
and the built-in guest booted without a kernel (:mod:`.guest`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmm import hookimpl
from vmm.core.errors import ImageError

from .image import place_firmware, place_initrd, place_kernel
from .state import arm64_state

if TYPE_CHECKING:
    from vmm.core.config import Config
    from vmm.core.images import LoadedImage
    from vmm.core.vm import Vm


def _ram(vm: Vm) -> tuple[int, int]:
    assert vm.layout is not None
    bank = vm.layout.banks[0]
    return bank.start, bank.size


@hookimpl
def vmm_builtin_guest(config: Config) -> str:
    """The built-in arm64 guest: a greeting on the UART, then PSCI SYSTEM_OFF."""
    from .guest import GUEST_PATH

    return str(GUEST_PATH)


@hookimpl
def vmm_load_kernel(vm: Vm, data: bytes, path: str) -> LoadedImage:
    """An arm64 ``Image`` at RAM start + text_offset; fixes the device tree address."""
    image, dtb = place_kernel(data, path, *_ram(vm))
    vm.memory.write(image.guest_start, data)
    state = arm64_state(vm)
    state.kernel = image
    state.dtb_address = dtb
    return image


@hookimpl
def vmm_load_firmware(vm: Vm, data: bytes, path: str) -> LoadedImage:
    """A raw binary at the start of RAM, entered there; the device tree after it."""
    if not data:
        raise ImageError(f"firmware {path!r} is empty")
    image, dtb = place_firmware(data, path, *_ram(vm))
    vm.memory.write(image.guest_start, data)
    state = arm64_state(vm)
    state.firmware = image
    state.dtb_address = dtb
    return image


@hookimpl
def vmm_load_initrd(vm: Vm, data: bytes, path: str) -> LoadedImage:
    """The initrd just below the device tree, 4-byte aligned."""
    state = arm64_state(vm)
    assert vm.kernel is not None
    image = place_initrd(len(data), path, vm.kernel, state.dtb_address)
    vm.memory.write(image.guest_start, data)
    state.initrd = image
    return image
