"""The realm host UABI generations behind one lifecycle interface, and how one is chosen.

vmm drives a realm through one of two kernel UABIs, both ``KVM_CAP_ARM_RME`` (300):

- ``rfc-v1`` (linux-cca cca-host/rfc-v1, Jan 2023; the series' UABI): the realm
  descriptor before any vCPU, RAM locked in memory, INIT_IPA and POPULATE as each
  image is placed, REC feature 7 by FINALIZE only (:mod:`.rfc_v1`);
- ``v7`` (linux-cca cca-host/v7, Feb 2025; the emulated CCA host's kernel):
  guest_memfd RAM, the realm created from initialised vCPUs, POPULATE with a MEASURE
  flag, REC feature 8 at KVM_ARM_VCPU_INIT (:mod:`.v7`).

:func:`detect` asks the kernel which one it has: KVM_CAP_ARM_RME must be there (else
the host kernel has no realm support), and a kernel with guest_memfd
(KVM_CAP_GUEST_MEMFD on /dev/kvm) is not an RFC-v1 kernel (guest_memfd came with
Linux 6.8; RFC-v1 is based on 6.2). ``--realm-uabi`` forces one.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, ClassVar

from vmm.core.errors import ConfigError
from vmm.core.kvm import ioctls as k
from vmm.core.stash import StashKey

from .options import RFC_V1, V7, check_pairing
from .uapi import KVM_CAP_ARM_RME

if TYPE_CHECKING:  # pragma: no cover
    from vmm.core.images import LoadedImage
    from vmm.core.kvm.fds import Kvm
    from vmm.core.memory import RamRegion
    from vmm.core.vcpu import Vcpu
    from vmm.core.vm import Vm

    from .rmm import RmmProfile
    from .state import RealmState

NO_REALM_SUPPORT = (
    "this host kernel has no realm support (KVM_CHECK_EXTENSION(KVM_CAP_ARM_RME) is 0): run "
    "on a kernel with Arm CCA host support and an RMM, or use --dry-run for the model of KVM"
)


class RealmGeneration:
    """How the VMM builds a realm through one UABI generation; one instance per VM.

    The lifecycle hooks (:mod:`.lifecycle`) call these steps in order; a generation
    implements those it needs.
    """

    #: "rfc-v1" or "v7".
    name: ClassVar[str]
    #: Whether guest RAM is private memory (guest_memfd).
    private_memory: ClassVar[bool] = False
    #: Feature bits every realm vCPU is initialised with.
    vcpu_features: ClassVar[int] = 0

    @property
    def rmm(self) -> RmmProfile:
        """The RMM this generation shipped with (the rules of its RIM)."""
        from .rmm import RmmProfile

        return RmmProfile.for_uabi(self.name)

    def vm_created(self, vm: Vm, state: RealmState) -> None:
        """The VM fd exists; the arch plugin has not created its vGIC yet."""

    def ram_allocated(self, vm: Vm, state: RealmState, region: RamRegion) -> None:
        """A RAM region is mapped, before KVM is told about it."""

    def image_loaded(self, vm: Vm, state: RealmState, image: LoadedImage) -> None:
        """An image (kernel, firmware, initrd, device tree) is in guest memory."""

    def vcpu_initialised(self, vm: Vm, state: RealmState, vcpu: Vcpu) -> None:
        """A vCPU went through KVM_ARM_VCPU_INIT."""

    def vcpu_finalized(self, vm: Vm, state: RealmState, vcpu: Vcpu) -> None:
        """A vCPU's boot registers are set and arm64 finalized it."""

    def activate(self, vm: Vm, state: RealmState) -> None:
        """Last step before the first KVM_RUN: the realm must end up active."""
        raise NotImplementedError


#: The stash key of the UABI generation driving a realm VM (set when the VM type is
#: computed, with the realm state); absent for a normal VM.
GENERATION_KEY = StashKey[RealmGeneration]()


def realm_generation(vm: Vm) -> RealmGeneration | None:
    """The generation driving the VM's realm, or None (not a realm, or not yet chosen)."""
    return vm.stash.get(GENERATION_KEY)


_CLASSES = {RFC_V1: ("rfc_v1.lifecycle", "RfcV1"), V7: ("v7.lifecycle", "V7")}


def make_generation(name: str) -> RealmGeneration:
    """A fresh lifecycle for the generation ``name`` (its module imported on demand)."""
    module, cls = _CLASSES[name]
    return getattr(importlib.import_module(f"{__package__}.{module}"), cls)()


def detect(kvm: Kvm) -> str:
    """The generation of the host kernel behind ``kvm``; ConfigError without realms."""
    if not kvm.check_extension(KVM_CAP_ARM_RME):
        raise ConfigError(NO_REALM_SUPPORT)
    return V7 if kvm.check_extension(k.KVM_CAP_GUEST_MEMFD) else RFC_V1


def choose(kvm: Kvm, state: RealmState) -> RealmGeneration:
    """The generation to drive: ``--realm-uabi``, else detected; ``--rmm`` must pair."""
    settings = state.settings
    if settings.uabi is None:
        name = detect(kvm)
    elif kvm.check_extension(KVM_CAP_ARM_RME):
        name = settings.uabi
    else:
        raise ConfigError(NO_REALM_SUPPORT)
    if settings.rmm is not None:
        check_pairing(settings.rmm, name, "the host's UABI" if settings.uabi is None else "--realm-uabi")
    return make_generation(name)
