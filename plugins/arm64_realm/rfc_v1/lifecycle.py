"""A realm through the RFC-v1 UABI, in kvmtool cca/rfc-v1's order (rme-rfc-v1-uabi §5).

CONFIG_REALM items and CREATE_RD before any vCPU -> RAM locked -> INIT_IPA + POPULATE
for kernel, initrd and device tree as each is placed -> every vCPU reset and
FINALIZE(KVM_ARM_VCPU_REC = 7), ascending MPIDR -> ACTIVATE_REALM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..generation import RealmGeneration
from ..options import RFC_V1
from ..ranges import ranges_in
from . import calls

if TYPE_CHECKING:  # pragma: no cover
    from vmm.core.images import LoadedImage
    from vmm.core.memory import RamRegion
    from vmm.core.vcpu import Vcpu
    from vmm.core.vm import Vm

    from ..state import RealmState


class RfcV1(RealmGeneration):
    """The RFC-v1 series' realm lifecycle."""

    name = RFC_V1

    def vm_created(self, vm: Vm, state: RealmState) -> None:
        """CONFIG_REALM (hash, RPV, SVE) then CREATE_RD, before any vCPU (patch 12, 14)."""
        assert vm.vmfd is not None
        calls.configure_realm(vm.vmfd, state.settings)
        calls.create_realm_descriptor(vm.vmfd)

    def ram_allocated(self, vm: Vm, state: RealmState, region: RamRegion) -> None:
        """Lock realm RAM in memory (patch 11); the model of KVM goes on if it can't,
        and a dry run locks nothing (it changes nothing on the host)."""
        if vm.config.dry_run:
            state.lock_failure = "a dry run locks no host memory (a real run locks it on fault)"
            return
        from ..memory_lock import MemoryLockError, lock_realm_ram

        try:
            lock_realm_ram(region.host_addr, region.size)
        except MemoryLockError as error:
            if vm.backend.name != "model":
                raise
            state.lock_failure = str(error)

    def image_loaded(self, vm: Vm, state: RealmState, image: LoadedImage) -> None:
        """INIT_IPA then POPULATE over the image's ranges (patch 18)."""
        ranges = ranges_in(vm, image)
        if ranges is None:
            return
        assert vm.vmfd is not None
        calls.init_ipa_realm(vm.vmfd, ranges.init_base, ranges.init_size)
        calls.populate_realm(vm.vmfd, ranges.populate_base, ranges.populate_size)

    def vcpu_finalized(self, vm: Vm, state: RealmState, vcpu: Vcpu) -> None:
        """FINALIZE(KVM_ARM_VCPU_REC) right after the vCPU's reset (patch 20)."""
        calls.finalize_rec(vcpu.fd)

    def activate(self, vm: Vm, state: RealmState) -> None:
        """ACTIVATE_REALM once every vCPU has its REC (patch 22)."""
        assert vm.vmfd is not None
        calls.activate_realm(vm.vmfd)
