"""The realm lifecycle as arm64 hooks, each handing its step to the UABI generation
chosen for the VM (:mod:`.generation`).

VM type (realm, IPA doubled; the host's realm support probed and its generation
chosen) -> [RFC-v1: CONFIG and CREATE_RD before any vCPU] -> RAM (RFC-v1: locked;
v7: private, guest_memfd) -> images (RFC-v1: INIT_IPA + POPULATE as each is placed;
v7: remembered) -> vCPUs (v7: REC feature at init) -> each vCPU reset without
PSTATE (RFC-v1: FINALIZE(REC) right after, ascending MPIDR) -> last of all, before
the first KVM_RUN: RFC-v1 ACTIVATE; v7 CONFIG, CREATE_REALM, POPULATE of each image,
FINALIZE(REC) of each vCPU, ACTIVATE.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

from vmm import hookimpl
from vmm.core.errors import ConfigError

from . import uapi
from .generation import GENERATION_KEY, RealmGeneration, realm_generation
from .state import realm_state, start_realm_state

if TYPE_CHECKING:  # pragma: no cover
    from vmm.core.images import LoadedImage
    from vmm.core.memory import RamRegion
    from vmm.core.vcpu import Vcpu
    from vmm.core.vm import Vm

    from .state import RealmState

#: The register KVM refuses to set on a realm vCPU (the RMM resets it itself).
PSTATE = "pstate"


def _generation(vm: Vm) -> tuple[RealmGeneration, RealmState] | tuple[None, None]:
    """The realm's generation and state, or (None, None) for a normal VM."""
    state, generation = realm_state(vm), realm_generation(vm)
    return (generation, state) if state is not None and generation is not None else (None, None)


@hookimpl(wrapper=True)
def vmm_vm_type(vm: Vm) -> Generator[None, int | None, int | None]:
    """A realm is type 0x100 with arm64's IPA size plus one bit (patches 10, 25),
    once the host kernel showed realm support and its UABI generation was chosen."""
    vm_type = yield
    state = start_realm_state(vm)
    if state is None:
        return vm_type
    from .generation import choose

    assert vm.kvm is not None
    vm.stash[GENERATION_KEY] = choose(vm.kvm, state)
    ipa_bits = (vm_type or 0) & uapi.KVM_VM_TYPE_ARM_IPA_SIZE_MASK
    if ipa_bits:
        ipa_bits += 1  # the top IPA bit selects the unprotected (shared) half
        _check_ipa_limit(vm, ipa_bits)
    state.ipa_bits = ipa_bits
    return uapi.KVM_VM_TYPE_ARM_REALM | ipa_bits


def _check_ipa_limit(vm: Vm, ipa_bits: int) -> None:
    """kvmtool's "Memory too large" check, made again for the doubled IPA space."""
    from vmm.plugins.arm64.state import arm64_state

    limit = arm64_state(vm).ipa_limit
    if limit and ipa_bits > limit:
        raise ConfigError(
            f"-m {vm.config.mem_mib}: a realm needs {ipa_bits} IPA bits (twice the RAM's "
            f"address space) and KVM allows {limit}; give less memory"
        )


@hookimpl
def vmm_private_memory(vm: Vm) -> bool | None:
    """A v7 realm's RAM is guest_memfd (private, until the guest shares some)."""
    generation = realm_generation(vm)
    return True if generation is not None and generation.private_memory else None


@hookimpl
def vmm_core_init(vm: Vm) -> None:
    """The generation's first step, before arm64 creates its vGIC (RFC-v1: CONFIG
    items and CREATE_RD)."""
    generation, state = _generation(vm)
    if generation is not None and state is not None:
        generation.vm_created(vm, state)


#: KVM's IPA size for a VM type that gives none.
DEFAULT_IPA_BITS = 40


@hookimpl
def vmm_memory_allocated(vm: Vm, region: RamRegion) -> None:
    """Realm RAM as the generation wants it (RFC-v1: locked in memory), and seen by
    the devices at its unprotected alias too.

    A realm shares memory with the host through the alias of its RAM with the top IPA
    bit set, and its DMA API hands devices those addresses (an arm64 realm kernel's
    ``dma_addr_unencrypted``): a virtqueue or buffer address may carry the bit.
    """
    generation, state = _generation(vm)
    if generation is not None and state is not None:
        generation.ram_allocated(vm, state, region)
        vm.memory.add_alias(region, 1 << ((state.ipa_bits or DEFAULT_IPA_BITS) - 1))


@hookimpl
def vmm_kernel_loaded(vm: Vm, image: LoadedImage) -> None:
    """The kernel or firmware is in guest memory."""
    _image_loaded(vm, image)


@hookimpl
def vmm_image_loaded(vm: Vm, image: LoadedImage) -> None:
    """The initrd or the device tree is in guest memory."""
    _image_loaded(vm, image)


def _image_loaded(vm: Vm, image: LoadedImage) -> None:
    generation, state = _generation(vm)
    if generation is not None and state is not None:
        generation.image_loaded(vm, state, image)


@hookimpl(wrapper=True)
def vmm_vcpu_features(vm: Vm) -> Generator[None, int | None, int | None]:
    """Add the generation's vCPU features (v7: KVM_ARM_VCPU_REC) to arm64's."""
    features = yield
    generation = realm_generation(vm)
    if generation is None or features is None:
        return features
    return features | generation.vcpu_features


@hookimpl(trylast=True)
def vmm_vcpu_init(vm: Vm, vcpu: Vcpu) -> None:
    """After arm64's KVM_ARM_VCPU_INIT (v7: the SVE vector lengths)."""
    generation, state = _generation(vm)
    if generation is not None and state is not None:
        generation.vcpu_initialised(vm, state, vcpu)


@hookimpl
def vmm_arm64_sve(vm: Vm) -> bool | None:
    """A realm's vCPUs get SVE only with ``--sve-vl`` (patch 16: the RMM is then told
    the vector length); a normal VM leaves the choice to arm64."""
    state = realm_state(vm)
    if state is None:
        return None
    return state.settings.sve_vq is not None


@hookimpl(wrapper=True)
def vmm_vcpu_boot_registers(vm: Vm, vcpu: Vcpu) -> Generator[None, dict | None, dict | None]:
    """Drop PSTATE: KVM refuses it for a realm vCPU (patch 19)."""
    registers = yield
    if registers is None or realm_state(vm) is None:
        return registers
    return {name: value for name, value in registers.items() if name != PSTATE}


@hookimpl(trylast=True)
def vmm_vcpu_finalize(vm: Vm, vcpu: Vcpu) -> None:
    """After arm64's finalize (RFC-v1: FINALIZE(REC), patch 20)."""
    generation, state = _generation(vm)
    if generation is not None and state is not None:
        generation.vcpu_finalized(vm, state, vcpu)


@hookimpl(trylast=True)
def vmm_last_init(vm: Vm) -> None:
    """Activate the realm (patch 22; v7 builds it here); report a dry run's RIM."""
    generation, state = _generation(vm)
    if generation is None or state is None:
        return
    from .report import report_realm

    generation.activate(vm, state)
    state.active = True
    report_realm(vm, state)
