"""The arm64 plugin's per-VM state, kept in ``vm.stash[ARM64]``.

Layers on arm64 read it rather than recomputing: the IPA size the VM type was
built from, whether SVE was enabled, where the device tree went, which images were
loaded where.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vmm.core.stash import StashKey

if TYPE_CHECKING:
    from vmm.core.images import LoadedImage
    from vmm.core.vm import Vm


@dataclass
class Arm64State:
    """What the arm64 plugin decided for one VM."""

    #: IPA bits the VM needs (``max(32, fls(last RAM address))``); set by vmm_vm_type.
    ipa_bits: int = 0
    #: The host's IPA limit (KVM_CAP_ARM_VM_IPA_SIZE; 0 when the cap is absent).
    ipa_limit: int = 0
    #: "gicv3" or "gicv2", once chosen.
    irqchip: str = ""
    #: kvm_vcpu_init feature bits requested for every vCPU (features[0]).
    vcpu_features: int = 0
    #: The target KVM_ARM_PREFERRED_TARGET gave.
    vcpu_target: int = 0
    sve_enabled: bool = False
    pmu_enabled: bool = False
    pvtime_enabled: bool = False
    mte_enabled: bool = False
    #: Guest address of the device tree window (64 KiB), known once the kernel is loaded.
    dtb_address: int = 0
    #: The device tree blob as written to guest memory.
    dtb: bytes = b""
    kernel: LoadedImage | None = None
    initrd: LoadedImage | None = None
    firmware: LoadedImage | None = None
    #: MPIDR_EL1 of each vCPU, by vCPU id (read when the device tree is built).
    mpidrs: list[int] = field(default_factory=list)
    #: Devices the plugin created (uart, flash, ...) by name, for tests and layers.
    devices: dict[str, Any] = field(default_factory=dict)


#: The stash key of the arm64 state.
ARM64 = StashKey[Arm64State]()


def arm64_state(vm: Vm) -> Arm64State:
    """The VM's arm64 state, created on first use."""
    return vm.stash.setdefault(ARM64, Arm64State)
