"""The arm64 machine: memory map, VM type (IPA size), MTE, the vGIC, the model of KVM.

Heavy modules (cffi declarations, the model) are imported inside the hooks so that
``vmm --help`` does not pay for them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from vmm import hookimpl
from vmm.core.errors import ConfigError

from . import layout as mm
from .options import arm64_options
from .state import arm64_state

if TYPE_CHECKING:
    from vmm.core.config import Config
    from vmm.core.layout import MemoryLayout
    from vmm.core.model.base import ArchModel
    from vmm.core.vm import Vm

log = logging.getLogger(__name__)

MTE_FLASH_MESSAGE = "MTE is incompatible with CFI flash support, disabling"


@hookimpl
def vmm_memory_layout(config: Config) -> MemoryLayout:
    """RAM at 2 GiB; UART, pvtime, flash, virtio-mmio, GIC and PCI windows below it."""
    return mm.memory_layout(config.mem_bytes, config.cpus)


@hookimpl
def vmm_kvm_model(config: Config) -> ArchModel:
    """The arm64 model of KVM, with the host profile ``--model-host`` describes."""
    from .model import Arm64Model
    from .model_host import model_host_from_options

    return Arm64Model(model_host_from_options(arm64_options(config).model_host))


def compute_ipa_bits(vm: Vm) -> int:
    """The IPA size the VM's RAM needs; checks it against KVM_CAP_ARM_VM_IPA_SIZE.

    Stores ``ipa_bits`` and ``ipa_limit`` in the arm64 stash; a layer that needs a
    different size calls this and adjusts the result.
    """
    from . import uapi as u

    assert vm.kvm is not None and vm.layout is not None
    state = arm64_state(vm)
    state.ipa_limit = vm.kvm.check_extension(u.KVM_CAP_ARM_VM_IPA_SIZE)
    state.ipa_bits = mm.required_ipa_bits(vm.layout)
    limit = state.ipa_limit or mm.DEFAULT_IPA_BITS
    if state.ipa_bits > limit:
        raise ConfigError(
            f"-m {vm.config.mem_mib}: memory too large for this host (it needs "
            f"{state.ipa_bits} IPA bits, KVM allows {limit}); give less memory"
        )
    return state.ipa_bits


@hookimpl
def vmm_vm_type(vm: Vm) -> int:
    """KVM_VM_TYPE_ARM_IPA_SIZE(bits), or 0 on kernels without the capability."""
    bits = compute_ipa_bits(vm)
    return bits if arm64_state(vm).ipa_limit else 0


@hookimpl
def vmm_core_init(vm: Vm) -> None:
    """Enable MTE if wanted and possible, then create the vGIC (before any vCPU)."""
    from .irqchip import create_vgic

    _enable_mte(vm)
    assert vm.vmfd is not None
    vgic = create_vgic(vm.vmfd, arm64_options(vm.config).irqchip or "auto", vm.config.cpus)
    arm64_state(vm).irqchip = vgic.kind
    vm.irqchip = vgic


def _enable_mte(vm: Vm) -> None:
    """KVM_CAP_ARM_MTE when the host has it, unless --disable-mte or --flash."""
    from . import uapi as u

    assert vm.kvm is not None and vm.vmfd is not None
    options = arm64_options(vm.config)
    if options.disable_mte:
        log.debug("MTE disabled by the user")
        return
    if not vm.kvm.check_extension(u.KVM_CAP_ARM_MTE):
        log.debug("MTE is not available on this host")
        return
    if options.flash:
        log.debug(MTE_FLASH_MESSAGE)
        vm.compat_messages.append(MTE_FLASH_MESSAGE)
        return
    vm.vmfd.enable_cap(u.KVM_CAP_ARM_MTE)
    arm64_state(vm).mte_enabled = True
