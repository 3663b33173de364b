"""The x86 machine: memory map, the model of KVM, the in-kernel irqchip and PIT,
KVM's TSS and identity-map pages, and the CPUID KVM supports."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vmm import hookimpl

from . import layout as m

if TYPE_CHECKING:
    from vmm.core.config import Config
    from vmm.core.layout import MemoryLayout
    from vmm.core.vm import Vm


@hookimpl
def vmm_kvm_model(config: Config) -> Any:
    """The x86 part of the model of KVM (for ``--dry-run`` and tests)."""
    from .model import X86Model

    return X86Model()


@hookimpl
def vmm_memory_layout(config: Config) -> MemoryLayout:
    """RAM below the 32-bit hole (at most 3 GiB) and above 4 GiB; device windows."""
    return m.memory_layout(config.mem_bytes)


@hookimpl
def vmm_core_init(vm: Vm) -> None:
    """Create the in-kernel irqchip and PIT, place KVM's TSS and identity-map pages,
    and read the CPUID KVM supports (once, for every vCPU)."""
    from . import uapi as x
    from .cpu import supported_cpuid
    from .irqchip import IrqChip
    from .state import x86_state
    from .uapi import ffi

    assert vm.vmfd is not None and vm.kvm is not None
    vmfd = vm.vmfd
    vmfd.call(x.KVM_SET_TSS_ADDR, m.TSS_ADDR)
    vmfd.call(x.KVM_SET_IDENTITY_MAP_ADDR, ffi.new("uint64_t *", m.IDENTITY_MAP_ADDR))
    vmfd.create_irqchip()
    vmfd.call(x.KVM_CREATE_PIT2, ffi.new("struct kvm_pit_config *", {"flags": x.KVM_PIT_SPEAKER_DUMMY}))
    vm.irqchip = IrqChip(vmfd)
    x86_state(vm).supported_cpuid = supported_cpuid(vm.kvm)
