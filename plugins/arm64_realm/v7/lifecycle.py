"""A realm through the v7 UABI, in the order QEMU's realm support and the kit's
realmboot use (with kvmtool cca/v2's placement of the steps).

RAM is private memory (guest_memfd) from the start; the images are only remembered
as they are placed. vCPUs are initialised with KVM_ARM_VCPU_REC (8) and, with
``--sve-vl``, their SVE vector lengths limited; after their reset (and arm64's
FINALIZE(SVE)), the last step builds the realm: CONFIG_REALM (hash, RPV) and
CREATE_REALM, which reads the vCPUs' ID registers; INIT_RIPAS over all of guest RAM;
POPULATE (measured) of each image in load order; FINALIZE(REC) of every vCPU in
ascending MPIDR order; ACTIVATE_REALM.

All RAM gets RIPAS RAM before the guest runs, as QEMU does (kvmtool cca/v2 set it
only over the images and their BSS, leaving the rest EMPTY for the guest to claim):
Debian's 7.2 realm kernel on the emulated CCA host stops without a word before its
first RIPAS request when the rest of its RAM is EMPTY, and boots when it is RAM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmm.core.errors import ConfigError

from .. import options
from ..generation import RealmGeneration
from ..ranges import RealmRanges, ranges_in
from . import calls, uapi

if TYPE_CHECKING:  # pragma: no cover
    from vmm.core.images import LoadedImage
    from vmm.core.vcpu import Vcpu
    from vmm.core.vm import Vm

    from ..state import RealmState


class V7(RealmGeneration):
    """The v7 series' realm lifecycle."""

    name = options.V7
    private_memory = True
    vcpu_features = 1 << uapi.KVM_ARM_VCPU_REC

    def __init__(self) -> None:
        #: The images' ranges, in load order, populated when the realm is created.
        self.pending: list[RealmRanges] = []

    def vm_created(self, vm: Vm, state: RealmState) -> None:
        """With ``--sve-vl``, the host's KVM must give vCPUs SVE (a v7 realm's vector
        length is a vCPU's, and KVM_ARM_VCPU_INIT refuses SVE without host support)."""
        from ..uapi import KVM_CAP_ARM_SVE

        assert vm.kvm is not None
        if state.settings.sve_vq is not None and not vm.kvm.check_extension(KVM_CAP_ARM_SVE):
            raise ConfigError(
                f"--sve-vl {(state.settings.sve_vq + 1) * 128}: this host's KVM gives vCPUs no "
                "SVE (KVM_CAP_ARM_SVE is 0 on /dev/kvm); drop --sve-vl"
            )

    def image_loaded(self, vm: Vm, state: RealmState, image: LoadedImage) -> None:
        """Remember the image: the realm can only be created once vCPUs exist."""
        ranges = ranges_in(vm, image)
        if ranges is not None:
            self.pending.append(ranges)

    def vcpu_initialised(self, vm: Vm, state: RealmState, vcpu: Vcpu) -> None:
        """With ``--sve-vl``, offer the vCPU SVE vectors up to that length only."""
        vq = state.settings.sve_vq
        if vq is None:
            return
        if not calls.limit_sve_vector_lengths(vcpu.fd, vq + 1):
            raise ConfigError(
                f"--sve-vl {(vq + 1) * 128}: this host's SVE has no vectors that long; "
                "give a shorter --sve-vl"
            )

    def activate(self, vm: Vm, state: RealmState) -> None:
        """Create, populate and activate the realm; every vCPU gets its REC."""
        vmfd = vm.vmfd
        assert vmfd is not None
        calls.configure_realm(vmfd, state.settings)
        calls.create_realm(vmfd)
        assert vm.layout is not None
        for bank in vm.layout.banks:
            calls.init_ripas_realm(vmfd, bank.start, bank.size)
        for ranges in self.pending:
            calls.populate_realm(vmfd, ranges.populate_base, ranges.populate_size, measure=True)
        for vcpu in vm.vcpus:
            calls.finalize_rec(vcpu.fd)
        calls.activate_realm(vmfd)
