"""The riscv machine: the memory map, the model of KVM and the interrupt controller.

The controller is chosen when the VM is created (:func:`choose_irqchip`): KVM's
in-kernel AIA (:mod:`.aia`) or a PLIC emulated in vmm (:mod:`.plic_chip`), both
behind the facade of :mod:`.irqchip`. Heavy modules (cffi declarations, the model)
are imported inside the hooks, so registering the plugin parses no cffi declarations.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from vmm import hookimpl

if TYPE_CHECKING:
    from vmm.core.config import Config
    from vmm.core.layout import MemoryLayout
    from vmm.core.model.base import ArchModel
    from vmm.core.vm import Vm

    from .irqchip import RiscvIrqchip

log = logging.getLogger(__name__)


@hookimpl
def vmm_kvm_model(config: Config) -> ArchModel:
    """The model of riscv KVM (a test gives another profile through a plugin of its
    own)."""
    from .model import RiscvModel

    return RiscvModel()


@hookimpl
def vmm_memory_layout(config: Config) -> MemoryLayout:
    """RAM at 0x80000000, the UART, irqchip, virtio-mmio and PCI windows below."""
    from .layout import memory_layout

    return memory_layout(config)


@hookimpl
def vmm_core_init(vm: Vm) -> None:
    """Choose the irqchip; the in-kernel AIA device is created now, before vCPUs."""
    vm.irqchip = choose_irqchip(vm)


@hookimpl
def vmm_core_exit(vm: Vm) -> None:
    """Stop the irqchip's threads and close its device fd."""
    from .irqchip import RiscvIrqchip

    if isinstance(vm.irqchip, RiscvIrqchip):
        vm.irqchip.close()


def choose_irqchip(vm: Vm) -> RiscvIrqchip:
    """The AIA or the PLIC, as ``--irqchip`` asks and KVM allows.

    ``--irqchip auto`` takes the AIA when KVM offers it (KVM_CAP_IRQCHIP) and the
    guest keeps the ssaia extension.
    """
    from vmm.core.errors import ConfigError, KvmError

    from . import uapi
    from .aia import AiaIrqchip
    from .isa import disable_dest
    from .options import irqchip_choice, riscv_options
    from .plic_chip import PlicIrqchip

    assert vm.vmfd is not None
    choice = irqchip_choice(vm.config)
    if choice == "plic":
        return PlicIrqchip()
    if choice == "auto":
        if getattr(riscv_options(vm.config), disable_dest("ssaia")):
            return PlicIrqchip()
        if not vm.vmfd.check_extension(uapi.KVM_CAP_IRQCHIP):
            return PlicIrqchip()
    try:
        return AiaIrqchip.create(vm)
    except KvmError as error:
        if choice == "aia":
            raise ConfigError(
                f"--irqchip aia: KVM can't create the in-kernel AIA here ({error}); "
                "use --irqchip plic"
            ) from None
        log.debug("no in-kernel AIA (%s): emulating a PLIC", error)
        return PlicIrqchip()
