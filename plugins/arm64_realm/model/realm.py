"""What the model of a realm-capable kernel keeps per realm VM and per realm vCPU, and
what its RMM supports."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..rmm import HashAlgorithm, PlanRecorder
from ..rmm.rtt_state import RttState
from ..uapi import RME_RPV_SIZE

if TYPE_CHECKING:  # pragma: no cover
    from vmm.core.model.state import VcpuState, VmState

#: Key of the realm layer's state in the model's per-VM and per-vCPU ``arch`` dicts.
REALM_VM_KEY = "rme"
REALM_VCPU_KEY = "rme"


class RmeState(enum.Enum):
    """The realm's state in the kernel (``enum realm_state``)."""

    NONE = "none"  # a realm VM type, no realm descriptor yet
    NEW = "new"  # after CREATE_RD/CREATE_REALM: being populated, RECs being created
    ACTIVE = "active"  # after ACTIVATE_REALM: runnable, contents sealed


@dataclass(frozen=True)
class RmmFeatures:
    """What the modelled RMM supports (RMI_FEATURE_REGISTER_0).

    Breakpoints, watchpoints and PMU counters are the host CPU's (TF-RMM copies
    ID_AA64DFR0_EL1 and PMCR_EL0.N into its feature register), so they come from the
    modelled host (:meth:`from_host`). The rest are TF-RMM's on the reference
    platforms: 48-bit IPA, SVE up to 2048-bit vectors, both hash algorithms.
    """

    max_ipa_bits: int = 48
    sve: bool = True
    #: Longest SVE vector, encoded as VQ - 1 (15 = 2048 bits).
    max_sve_vq: int = 15
    hash_algorithms: frozenset[int] = frozenset(algorithm.value for algorithm in HashAlgorithm)
    num_bps: int = 6
    num_wps: int = 4
    pmu_counters: int = 6

    @classmethod
    def from_host(cls, host: Any) -> RmmFeatures:
        """The RMM of a modelled arm64 host (an arm64 ``ModelHost``, or None)."""
        if host is None:
            return cls()
        return cls(num_bps=host.bps, num_wps=host.wps, pmu_counters=host.pmu_counters)


@dataclass
class RealmVm:
    """One realm VM: its RME state, its configuration, and the RMI plan so far.

    :param ipa_bits: The IPA width of the VM type (both halves: protected and shared).
    """

    ipa_bits: int
    state: RmeState = RmeState.NONE
    hash_algo: HashAlgorithm = HashAlgorithm.SHA256
    rpv: bytes = bytes(RME_RPV_SIZE)
    #: RFC-v1's CONFIG_REALM(SVE) value (VQ - 1), or None.
    sve_vq: int | None = None
    #: The RMI operations issued so far (set when the realm is created).
    recorder: PlanRecorder | None = None
    #: The RMM's view of the realm's RTT (set when the realm is created).
    rtt: RttState | None = None
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
    #: The MPIDR of a PSCI CPU_ON/AFFINITY_INFO target the RMM waits on (a PSCI exit
    #: user space handles), or None.
    psci_pending: int | None = None


def realm_of(vm: VmState) -> RealmVm | None:
    """The realm state of a modelled VM, or None for a normal VM."""
    return vm.arch.get(REALM_VM_KEY)


def realm_vcpu(vcpu: VcpuState) -> RealmVcpu:
    """The realm layer's state of a modelled vCPU."""
    return vcpu.arch.setdefault(REALM_VCPU_KEY, RealmVcpu())
