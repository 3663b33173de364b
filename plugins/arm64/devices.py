"""arm64 platform devices: the 8250 UART at kvmtool's address and the CFI flash;
in the late stage vGIC CTRL_INIT, the PMUs, then the device tree in guest RAM."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmm import hookimpl
from vmm.core.images import LoadedImage
from vmm.core.options import write_output_file

from . import layout as mm
from .irqchip import arm64_vgic
from .options import arm64_options
from .state import arm64_state

if TYPE_CHECKING:
    from vmm.core.config import Config
    from vmm.core.vm import Vm

#: KVM_MEM_READONLY: guest writes to the slot exit as MMIO.
KVM_MEM_READONLY = 1 << 1


@hookimpl
def vmm_dev_init(vm: Vm) -> None:
    """Put the UART (with its own SPI, fed from the terminal) and, with --flash, the
    flash on the MMIO bus."""
    from vmm.core.devices.console_input import start_serial_input
    from vmm.core.devices.uart8250 import Uart8250

    state = arm64_state(vm)
    chip = arm64_vgic(vm)
    line = chip.allocate()
    uart = Uart8250(vm.write_console, lambda level: chip.set_level(line, level))
    vm.mmio.register(mm.UART_BASE, mm.UART_SIZE, uart, owner="uart")
    state.devices["uart"] = uart
    state.devices["uart_line"] = line
    start_serial_input(vm, uart.feed_input)
    flash = arm64_options(vm.config).flash
    if flash:
        _add_flash(vm, flash)


def _add_flash(vm: Vm, path: str) -> None:
    from vmm.core.kvm.cdefs import ffi

    from .flash import CfiFlash

    slot = vm.memory.reserve_slot()
    holder: dict[str, CfiFlash] = {}

    def map_array(mapped: bool) -> None:
        flash = holder["flash"]
        assert vm.vmfd is not None
        host = int(ffi.cast("uintptr_t", ffi.from_buffer(flash.array))) if mapped else 0
        size = flash.size if mapped else 0
        vm.vmfd.set_user_memory_region(slot, mm.FLASH_BASE, size, host, KVM_MEM_READONLY)

    flash = CfiFlash(path, map_array)
    holder["flash"] = flash
    arm64_state(vm).devices["flash"] = flash
    vm.mmio.register(mm.FLASH_BASE, flash.size, flash, owner="flash")
    flash.set_mapped(True)


@hookimpl
def vmm_dev_exit(vm: Vm) -> None:
    """Stop the console input and write the flash contents back to its file."""
    from vmm.core.devices.console_input import stop_serial_input

    stop_serial_input(vm)
    flash = arm64_state(vm).devices.pop("flash", None)
    if flash is not None:
        flash.close()


@hookimpl
def vmm_late_init(vm: Vm) -> None:
    """Initialise the vGIC and the PMUs, build the DTB, write it, announce it."""
    from . import uapi as u
    from .devicetree import build_device_tree
    from .vcpu import init_pmus

    state = arm64_state(vm)
    arm64_vgic(vm).initialize()
    init_pmus(vm)
    state.mpidrs = [vcpu.get_reg("mpidr_el1") for vcpu in vm.vcpus]
    psci_0_2 = bool(state.vcpu_features >> u.KVM_ARM_VCPU_PSCI_0_2 & 1)
    blob = build_device_tree(vm, state, psci_0_2)
    state.dtb = blob
    vm.memory.write(state.dtb_address, blob)
    vm.dtb = LoadedImage("dtb", state.dtb_address, len(blob), mm.DTB_WINDOW, format="dtb")
    vm.hook.vmm_image_loaded(vm=vm, image=vm.dtb)
    write_output_file("--dtb-out", arm64_options(vm.config).dtb_out, blob)


@hookimpl
def vmm_virtio_transports(config: Config) -> tuple[str, ...]:
    """virtio-mmio by default, described in the device tree (kvmtool's arm64
    default); PCI behind the ECAM host bridge on ``--virtio-transport pci``."""
    return ("mmio", "pci")
