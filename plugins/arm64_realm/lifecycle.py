"""The realm lifecycle, in the RFC-v1 order (rme-rfc-v1-uabi §5), as arm64 hooks.

VM type (realm, IPA doubled) -> CONFIG_REALM items and CREATE_RD before any vCPU ->
RAM locked -> INIT_IPA + POPULATE for kernel, initrd and device tree as each is
placed -> every vCPU reset without PSTATE and FINALIZE(REC), ascending MPIDR ->
ACTIVATE_REALM, last of all before the first KVM_RUN.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

from vmm import hookimpl
from vmm.core.errors import ConfigError

from . import uapi
from .state import realm_state, start_realm_state

if TYPE_CHECKING:  # pragma: no cover
    from vmm.core.images import LoadedImage
    from vmm.core.memory import RamRegion
    from vmm.core.vcpu import Vcpu
    from vmm.core.vm import Vm

    from .populate import RealmRanges

#: The register KVM refuses to set on a realm vCPU (the RMM resets it itself).
PSTATE = "pstate"


@hookimpl(wrapper=True)
def vmm_vm_type(vm: Vm) -> Generator[None, int | None, int | None]:
    """A realm is type 0x100 with arm64's IPA size plus one bit (patches 10, 25)."""
    vm_type = yield
    state = start_realm_state(vm)
    if state is None:
        return vm_type
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
def vmm_core_init(vm: Vm) -> None:
    """CONFIG_REALM (hash, RPV, SVE) then CREATE_RD, before arm64 creates its vGIC."""
    state = realm_state(vm)
    if state is None:
        return
    from .kvm_calls import configure_realm, create_realm_descriptor

    assert vm.vmfd is not None
    configure_realm(vm.vmfd, state.settings)
    create_realm_descriptor(vm.vmfd)


@hookimpl
def vmm_memory_allocated(vm: Vm, region: RamRegion) -> None:
    """Lock realm RAM in memory (the model backend goes on if the lock fails)."""
    state = realm_state(vm)
    if state is None:
        return
    from .memory_lock import MemoryLockError, lock_realm_ram

    try:
        lock_realm_ram(region.host_addr, region.size)
    except MemoryLockError as error:
        if vm.backend.name != "model":
            raise
        state.lock_failure = str(error)


@hookimpl
def vmm_kernel_loaded(vm: Vm, image: LoadedImage) -> None:
    """INIT_IPA over the kernel's image_size, POPULATE over its file (or firmware)."""
    if realm_state(vm) is None:
        return
    from .populate import kernel_ranges

    _apply(vm, kernel_ranges(image))


@hookimpl
def vmm_image_loaded(vm: Vm, image: LoadedImage) -> None:
    """INIT_IPA + POPULATE over the initrd's pages, or the device tree's 64 KiB."""
    if realm_state(vm) is None:
        return
    from .populate import dtb_ranges, initrd_ranges

    if image.kind == "initrd":
        assert vm.kernel is not None
        _apply(vm, initrd_ranges(image, vm.kernel))
    elif image.kind == "dtb":
        _apply(vm, dtb_ranges(image, vm.initrd))


def _apply(vm: Vm, ranges: RealmRanges | None) -> None:
    """Issue INIT_IPA_REALM then POPULATE_REALM for one image's ranges."""
    if ranges is None:
        return
    from .kvm_calls import init_ipa_realm, populate_realm

    assert vm.vmfd is not None
    init_ipa_realm(vm.vmfd, ranges.init_base, ranges.init_size)
    populate_realm(vm.vmfd, ranges.populate_base, ranges.populate_size)


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
    """FINALIZE(KVM_ARM_VCPU_REC) after arm64's finalize: the vCPU's REC (patch 20)."""
    if realm_state(vm) is None:
        return
    from .kvm_calls import finalize_rec

    finalize_rec(vcpu.fd)


@hookimpl(trylast=True)
def vmm_last_init(vm: Vm) -> None:
    """ACTIVATE_REALM once every vCPU has its REC (patch 22); report a dry run's RIM."""
    state = realm_state(vm)
    if state is None:
        return
    from .kvm_calls import activate_realm
    from .report import report_realm

    assert vm.vmfd is not None
    activate_realm(vm.vmfd)
    state.active = True
    report_realm(vm, state)
