"""What the model of the RFC-v1 kernel keeps per realm VM and per realm vCPU."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..rmm import HashAlgorithm, PlanRecorder
from ..uapi import RME_RPV_SIZE

if TYPE_CHECKING:  # pragma: no cover
    from vmm.core.model.state import VmState

#: Key of the realm layer's state in the model's per-VM ``arch`` dict.
REALM_VM_KEY = "rme"


class RmeState(enum.Enum):
    """The realm's state in the RFC-v1 kernel (``kvm_realm_state``)."""

    NONE = "none"  # a realm VM type, no realm descriptor yet
    NEW = "new"  # after CREATE_RD: being populated, RECs being created
    ACTIVE = "active"  # after ACTIVATE_REALM: runnable, contents sealed


@dataclass(frozen=True)
class RmmFeatures:
    """What the modelled RMM supports (RMI_FEATURE_REGISTER_0).

    Defaults are those of TF-RMM on the reference platforms: 48-bit IPA, SVE up to
    2048-bit vectors, both hash algorithms, 6 breakpoints and 4 watchpoints (the
    Armv8 FVP's ID_AA64DFR0_EL1), no PMU for realms.
    """

    max_ipa_bits: int = 48
    sve: bool = True
    #: Longest SVE vector, encoded as VQ - 1 (15 = 2048 bits).
    max_sve_vq: int = 15
    hash_algorithms: frozenset[int] = frozenset(algorithm.value for algorithm in HashAlgorithm)
    num_bps: int = 6
    num_wps: int = 4


@dataclass
class RealmVm:
    """One realm VM: its RME state, its configuration, and the RMI plan so far.

    :param ipa_bits: The IPA width of the VM type (both halves: protected and shared).
    """

    ipa_bits: int
    state: RmeState = RmeState.NONE
    hash_algo: HashAlgorithm = HashAlgorithm.SHA256
    rpv: bytes = bytes(RME_RPV_SIZE)
    sve_vq: int | None = None
    #: The RMI operations issued so far (set at CREATE_RD).
    recorder: PlanRecorder | None = None
    #: IPAs of granules already given contents (DATA_CREATE refuses them again).
    populated: set[int] = field(default_factory=set)
    #: vCPU ids in the order their RECs were created.
    recs: list[int] = field(default_factory=list)
    #: How each call the kernel turned into RMI operations was described.
    rmi_log: list[str] = field(default_factory=list)


@dataclass
class RealmVcpu:
    """What the realm layer remembers about one vCPU."""

    #: KVM_ARM_VCPU_INIT feature bits (None until the vCPU is initialised).
    features: int | None = None
    #: Whether FINALIZE(KVM_ARM_VCPU_REC) created its REC.
    has_rec: bool = False
    #: Synchronous external aborts injected (KVM_SET_VCPU_EVENTS ext_dabt_pending).
    aborts_injected: int = 0


def realm_of(vm: VmState) -> RealmVm | None:
    """The realm state of a modelled VM, or None for a normal VM."""
    return vm.arch.get(REALM_VM_KEY)
