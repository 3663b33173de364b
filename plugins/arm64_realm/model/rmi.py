"""How the RFC-v1 kernel turns realm ioctls into RMI calls, fed to a PlanRecorder.

The sequence follows rmm-measurement §1.8 (RFC v1 row): CREATE_RD is
RMI_REALM_CREATE with the configured parameters; INIT_IPA_REALM is one
RMI_RTT_INIT_RIPAS per RTT block the kernel walks; POPULATE_REALM is, per 4 KiB page,
RMI_RTT_INIT_RIPAS(ipa, 3) then a measured RMI_DATA_CREATE of the page copied from
the memslot; FINALIZE(REC) is RMI_REC_CREATE with x0-x7 and PC, vCPU 0 runnable.

The RMM profile decides the RTT_INIT_RIPAS form: beta0 (the RFC-v1 RMM) takes
``{ipa, level}``, one call per block; RMM 1.0 and 2.0 take ``{base, top}`` and walk
the entries themselves, so the same host is recorded with the range form.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Sequence
from itertools import groupby

from vmm.core.model.base import ModelErrno

from ..rmm import MeasurementError, PlanError, PlanRecorder, RealmParams, RmmProfile
from ..rmm.profiles import RipasForm
from ..rmm.realm_params import FLAG_SVE
from ..rmm.rtt import LAST_LEVEL, ripas_entries
from ..uapi import REALM_PAGE_SIZE
from .realm import RealmVm, RmmFeatures


class RmmRefused(Exception):
    """The modelled RMM refused an RMI call (the kernel reports it as an error)."""


def rmm_call(call: Callable[..., None], *args: object) -> None:
    """An RMI call the kernel makes; the RMM's refusal is the kernel's ENXIO."""
    try:
        call(*args)
    except RmmRefused as error:
        raise ModelErrno(errno.ENXIO, f"RMM refused: {error}") from None


def realm_params(realm: RealmVm, features: RmmFeatures) -> RealmParams:
    """The RmiRealmParams the RFC-v1 kernel passes to RMI_REALM_CREATE.

    Hash algorithm and SVE come from CONFIG_REALM; the IPA width from the VM type.
    The RFC-v1 kernel sends no DBG or PMU configuration, so an RMM 1.0 realm gets the
    RMM's own breakpoint and watchpoint counts (stored minus one) and no PMU.
    """
    flags = FLAG_SVE if realm.sve_vq is not None else 0
    return RealmParams(
        flags=flags,
        s2sz=realm.ipa_bits,
        sve_vl=realm.sve_vq or 0,
        num_bps=features.num_bps - 1,
        num_wps=features.num_wps - 1,
        pmu_num_ctrs=0,
        hash_algo=realm.hash_algo,
    )


def realm_create(realm: RealmVm, features: RmmFeatures, profile: RmmProfile) -> None:
    """RMI_REALM_CREATE: start the realm's plan."""
    recorder = PlanRecorder(profile, origin="realm model")
    _recorded(recorder.create, realm_params(realm, features))
    realm.recorder = recorder
    realm.rmi_log.append(f"REALM_CREATE(s2sz={realm.ipa_bits} hash={realm.hash_algo.label})")


def init_ripas(realm: RealmVm, base: int, top: int) -> None:
    """RMI_RTT_INIT_RIPAS over ``[base, top)`` as the kernel walks it (INIT_IPA_REALM)."""
    recorder = _recorder(realm)
    if recorder.rmm.rules.ripas_form is RipasForm.RANGE:
        _recorded(recorder.init_ripas_range, base, top)
        realm.rmi_log.append(f"RTT_INIT_RIPAS(base={base:#x} top={top:#x})")
        return
    try:
        entries = ripas_entries(base, top, realm.ipa_bits)
    except MeasurementError as error:
        raise RmmRefused(str(error)) from None
    for entry in entries:
        _recorded(recorder.init_ripas_block, entry.base, entry.level)
    for level, run in groupby(entries, key=lambda entry: entry.level):
        blocks = list(run)
        realm.rmi_log.append(
            f"{len(blocks)} x RTT_INIT_RIPAS(level {level}) {blocks[0].base:#x}..{blocks[-1].top:#x}"
        )


def populate_page(realm: RealmVm, ipa: int, page: bytes) -> None:
    """One page of POPULATE_REALM: RIPAS RAM at level 3, then a measured DATA_CREATE."""
    recorder = _recorder(realm)
    if recorder.rmm.rules.ripas_form is RipasForm.RANGE:
        _recorded(recorder.init_ripas_range, ipa, ipa + REALM_PAGE_SIZE)
    else:
        _recorded(recorder.init_ripas_block, ipa, LAST_LEVEL)
    _recorded(recorder.data_create, ipa, page, True)
    realm.populated.add(ipa)


def rec_create(realm: RealmVm, vcpu_id: int, pc: int, gprs: Sequence[int]) -> None:
    """RMI_REC_CREATE for vCPU ``vcpu_id``: vCPU 0 runnable, the others wait for PSCI."""
    runnable = vcpu_id == 0
    _recorded(_recorder(realm).rec_create, runnable, pc, gprs)
    realm.recs.append(vcpu_id)
    realm.rmi_log.append(
        f"REC_CREATE(vcpu={vcpu_id} runnable={int(runnable)} pc={pc:#x} x0={gprs[0]:#x})"
    )


def _recorder(realm: RealmVm) -> PlanRecorder:
    if realm.recorder is None:  # pragma: no cover - the state machine prevents it
        raise RmmRefused("no realm descriptor")
    return realm.recorder


def _recorded(call, *args) -> None:  # type: ignore[no-untyped-def]
    """Make one recorder call; a refusal by the measurement model is the RMM's."""
    try:
        call(*args)
    except (MeasurementError, PlanError) as error:
        raise RmmRefused(str(error)) from None
