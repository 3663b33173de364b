"""The RMI calls a modelled kernel makes, fed to the realm's PlanRecorder and RTT.

Every generation's kernel model calls these where its real counterpart calls the
RMM: REALM_CREATE with the parameters it built, RTT_INIT_RIPAS in the RMM profile's
form, DATA_CREATE (measured or not) of one page, REC_CREATE with x0-x7 and PC.
What the RMM refuses is an :class:`RmmRefused`, which the kernel reports as ENXIO
(:func:`rmm_call`), as the real kernels do for a failed RMI call.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Sequence

from vmm.core.model.base import ModelErrno

from ..rmm import MeasurementError, PlanError, PlanRecorder, RealmParams, RmmProfile
from ..rmm.realm_params import FLAG_SVE
from ..rmm.rtt import RttEntry
from ..rmm.rtt_state import RttState
from .realm import RealmVm, RmmFeatures


class RmmRefused(Exception):
    """The modelled RMM refused an RMI call (the kernel reports it as an error)."""


def rmm_call(call: Callable[..., None], *args: object) -> None:
    """An RMI call the kernel makes; the RMM's refusal is the kernel's ENXIO."""
    try:
        call(*args)
    except RmmRefused as error:
        raise ModelErrno(errno.ENXIO, f"RMM refused: {error}") from None


def rfc_v1_realm_params(realm: RealmVm, features: RmmFeatures) -> RealmParams:
    """The RmiRealmParams the RFC-v1 kernel passes to RMI_REALM_CREATE.

    Hash algorithm and SVE come from CONFIG_REALM; the IPA width from the VM type;
    breakpoints and watchpoints are the RMM's own (its feature register, count minus
    one); no PMU. beta0 measures only the hash algorithm.
    """
    return RealmParams(
        flags=FLAG_SVE if realm.sve_vq is not None else 0,
        s2sz=realm.ipa_bits,
        sve_vl=realm.sve_vq or 0,
        num_bps=features.num_bps - 1,
        num_wps=features.num_wps - 1,
        pmu_num_ctrs=0,
        hash_algo=realm.hash_algo,
    )


def check_rel0_params(params: RealmParams, features: RmmFeatures) -> None:
    """RMM 1.0's REALM_CREATE checks (TF-RMM v0.8.0 ``validate_realm_params``)."""
    if not 0 < params.num_bps <= features.num_bps - 1 or not 0 < params.num_wps <= features.num_wps - 1:
        raise RmmRefused(f"breakpoints {params.num_bps} / watchpoints {params.num_wps} (count - 1) "
                         "out of range (0 is reserved)")
    if params.flags & FLAG_SVE and (not features.sve or params.sve_vl > features.max_sve_vq):
        raise RmmRefused(f"SVE VQ-1 {params.sve_vl} not supported")
    if params.pmu_num_ctrs > features.pmu_counters:
        raise RmmRefused(f"{params.pmu_num_ctrs} PMU counters not supported")


def realm_create(realm: RealmVm, params: RealmParams, profile: RmmProfile) -> None:
    """RMI_REALM_CREATE: start the realm's plan and its RTT."""
    recorder = PlanRecorder(profile, origin="realm model")
    _recorded(recorder.create, params)
    realm.recorder = recorder
    realm.rtt = RttState(realm.ipa_bits)
    realm.rmi_log.append(f"REALM_CREATE(s2sz={params.s2sz} hash={params.hash_algo.label} "
                         f"flags={params.flags:#x} bps={params.num_bps} wps={params.num_wps} "
                         f"pmu={params.pmu_num_ctrs})")


def ripas_blocks(realm: RealmVm, entries: Sequence[RttEntry]) -> None:
    """beta0 RMI_RTT_INIT_RIPAS(ipa, level) that succeeded, one per entry."""
    recorder = recorder_of(realm)
    for entry in entries:
        _recorded(recorder.init_ripas_block, entry.base, entry.level)


def ripas_range(realm: RealmVm, base: int, top: int, level: int) -> None:
    """An RMM 1.0 RMI_RTT_INIT_RIPAS(base, top) that walked level-``level`` entries."""
    _recorded(recorder_of(realm).init_ripas_range, base, top, level)


def data_create(realm: RealmVm, ipa: int, page: bytes, measure: bool) -> None:
    """RMI_DATA_CREATE of one page that succeeded."""
    _recorded(recorder_of(realm).data_create, ipa, page, measure)


def rec_create(realm: RealmVm, vcpu_id: int, pc: int, gprs: Sequence[int]) -> None:
    """RMI_REC_CREATE for vCPU ``vcpu_id``: vCPU 0 runnable, the others wait for PSCI.

    The RMM takes REC ``i`` only when ``i`` RECs exist, so vCPUs must be finalised in
    ascending MPIDR order, none skipped (nor repeated).
    """
    if vcpu_id != len(realm.recs):
        raise RmmRefused(f"REC of vCPU {vcpu_id}: REC {len(realm.recs)} comes next "
                         "(ascending MPIDR order)")
    runnable = vcpu_id == 0
    _recorded(recorder_of(realm).rec_create, runnable, pc, gprs)
    realm.recs.append(vcpu_id)
    realm.rmi_log.append(
        f"REC_CREATE(vcpu={vcpu_id} runnable={int(runnable)} pc={pc:#x} x0={gprs[0]:#x})"
    )


def recorder_of(realm: RealmVm) -> PlanRecorder:
    """The realm's recorder (the state machine guarantees REALM_CREATE came first)."""
    if realm.recorder is None:  # pragma: no cover - the state machine prevents it
        raise RmmRefused("no realm descriptor")
    return realm.recorder


def rtt_of(realm: RealmVm) -> RttState:
    """The realm's RTT (exists once the realm is created)."""
    if realm.rtt is None:  # pragma: no cover - the state machine prevents it
        raise RmmRefused("no realm descriptor")
    return realm.rtt


def _recorded(call, *args) -> None:
    """Make one recorder call; a refusal by the measurement model is the RMM's."""
    try:
        call(*args)
    except (MeasurementError, PlanError) as error:
        raise RmmRefused(str(error)) from None
