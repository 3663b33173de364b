"""The riscv plugin's hook implementations.

Each one is thin and imports the module doing the work when it runs, so that
importing the plugin (every ``vmm`` command line) parses no cffi declarations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmm import hookimpl

if TYPE_CHECKING:
    from vmm.core.config import Config
    from vmm.core.fdt import FdtBuilder  # noqa: F401
    from vmm.core.images import LoadedImage
    from vmm.core.kvm.exits import Exit
    from vmm.core.layout import MemoryLayout
    from vmm.core.model.base import ArchModel
    from vmm.core.options import OptionGroup
    from vmm.core.vcpu import Vcpu
    from vmm.core.vm import Vm


# ------------------------------------------------------------------ configuration


@hookimpl
def vmm_addoption(group: OptionGroup) -> None:
    """--irqchip, --dtb-out and one --disable-<ext> per multi-letter ISA extension."""
    from .options import add_options

    add_options(group)


@hookimpl
def vmm_validate_config(config: Config) -> None:
    """Refuse a bad --irqchip or --dtb-out in one line."""
    from .options import validate_config

    validate_config(config)


@hookimpl
def vmm_kvm_model(config: Config) -> ArchModel:
    """The model of riscv KVM, with the profile a test may have put in the options."""
    from .model import RiscvModel
    from .options import MODEL_PROFILE_KEY

    return RiscvModel(config.option(MODEL_PROFILE_KEY))


@hookimpl
def vmm_memory_layout(config: Config) -> MemoryLayout:
    """RAM at 0x80000000, the UART, irqchip, virtio-mmio and PCI windows below."""
    from .layout import memory_layout

    return memory_layout(config)


# ------------------------------------------------------------------ stages


@hookimpl
def vmm_core_init(vm: Vm) -> None:
    """Choose the irqchip; the in-kernel AIA device is created now, before vCPUs."""
    from .irqchip import choose_irqchip

    vm.irqchip = choose_irqchip(vm)


@hookimpl
def vmm_dev_base_init(vm: Vm) -> None:
    """Configure the irqchip for the vCPUs that now exist (AIA: CTRL_INIT)."""
    vm.irqchip.attach(vm)


@hookimpl
def vmm_dev_init(vm: Vm) -> None:
    """The 8250 UART at 0x3f8 on the MMIO bus."""
    from .devices import add_uart

    add_uart(vm)


@hookimpl(trylast=True)
def vmm_late_init(vm: Vm) -> None:
    """Build the device tree once every device exists; place it at the top of RAM."""
    from .devicetree import place_device_tree

    place_device_tree(vm)


@hookimpl
def vmm_core_exit(vm: Vm) -> None:
    """Stop the irqchip's threads and close its device fd."""
    from .irqchip import RiscvIrqchip

    if isinstance(vm.irqchip, RiscvIrqchip):
        vm.irqchip.close()


# ------------------------------------------------------------------ images


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


# ------------------------------------------------------------------ vCPUs and exits


@hookimpl
def vmm_vcpu_init(vm: Vm, vcpu: Vcpu) -> None:
    """ONE_REG access, --disable-<ext>, SBI DBCN on; vCPU 0 reports the features."""
    from .vcpu import init_vcpu

    init_vcpu(vm, vcpu)


@hookimpl
def vmm_vcpu_boot_registers(vm: Vm, vcpu: Vcpu) -> dict[str, int]:
    """pc = kernel entry, a0 = hart id, a1 = device tree address."""
    from .vcpu import boot_registers

    return boot_registers(vm, vcpu)


@hookimpl
def vmm_register_dump(vcpu: Vcpu) -> str | None:
    """The core registers (pc, x1..x31, mode)."""
    from .vcpu import register_dump

    return register_dump(vcpu)


@hookimpl
def vmm_handle_exit(vcpu: Vcpu, exit: Exit) -> bool | None:
    """Forwarded SBI calls (console, DBCN, SRST), system events, the seed CSR."""
    from .sbi import handle_exit

    return handle_exit(vcpu, exit)
