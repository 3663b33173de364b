"""What each RMM profile measures, beyond the worked vectors."""

from __future__ import annotations

import struct

import pytest

from vmm.plugins.arm64_realm.rmm import (
    HashAlgorithm,
    Plan,
    RealmMeasurement,
    RealmParams,
    RecOp,
    RipasRangeOp,
    RmmProfile,
    measure,
    measure_steps,
)
from vmm.plugins.arm64_realm.rmm.descriptors import data_descriptor, measured_rec_params

PARAMS = RealmParams(flags=0, s2sz=33, sve_vl=0, num_bps=1, num_wps=1, pmu_num_ctrs=0)
V2_1_SHA256 = "39ad630fb9d2019f2be445c17430b6372c999e1d205f7ddaa5d00b5d13b83c76"
PAGE = b"\xaa" * 4096


def plan(profile: RmmProfile, *ops: object, params: RealmParams = PARAMS) -> Plan:
    """A plan of ``ops`` under ``profile``."""
    return Plan(realm_params=params, rmm=profile, ops=ops)  # type: ignore[arg-type]


def test_each_profile_pairs_with_the_uabi_it_shipped_with() -> None:
    assert [(profile.label, profile.uabi) for profile in RmmProfile] == [
        ("beta0", "rfc-v1"), ("rel0", "v7")]
    assert RmmProfile.for_uabi("v7") is RmmProfile.REL0
    assert RmmProfile.for_uabi("rfc-v1") is RmmProfile.BETA0
    with pytest.raises(Exception, match="RMM 2.0 pairs with the v13\\+ host UABI"):
        RmmProfile.from_label("2.0")


def test_rel0_ripas_of_one_recorded_call_uses_its_entries() -> None:
    one_block = plan(RmmProfile.REL0, RipasRangeOp(0x8000_0000, 0x8020_0000))
    as_pages = plan(RmmProfile.REL0, RipasRangeOp(0x8000_0000, 0x8020_0000, level=3))
    assert measure(one_block) == measure(plan(RmmProfile.REL0, RipasRangeOp(0x8000_0000, 0x8020_0000, level=2)))
    assert measure(as_pages) != measure(one_block)
    with pytest.raises(Exception, match="not whole level-2 entries"):
        measure(plan(RmmProfile.REL0, RipasRangeOp(0x8000_0000, 0x8000_1000, level=2)))


def test_rmm_1_0_measures_only_runnable_recs() -> None:
    steps = measure_steps(plan(RmmProfile.REL0, RecOp(False, 0x8000_0000, (1, 2)), RecOp(True, 0x8000_0000)))
    assert steps[0].hex() == V2_1_SHA256
    assert steps[1].hex() != V2_1_SHA256


def test_beta0_measures_every_rec() -> None:
    steps = measure_steps(plan(RmmProfile.BETA0, RecOp(False, 0), RecOp(False, 0)))
    assert len(set(steps)) == 2 and measure(plan(RmmProfile.BETA0)) not in steps


def test_rel0_measures_each_rtt_entry_of_a_ripas_range() -> None:
    whole = plan(RmmProfile.REL0, RipasRangeOp(0x8000_0000, 0x8020_1000))
    by_entry = plan(RmmProfile.REL0, RipasRangeOp(0x8000_0000, 0x8020_0000), RipasRangeOp(0x8020_0000, 0x8020_1000))
    assert measure(whole) == measure(by_entry)
    assert measure(whole) != measure(plan(RmmProfile.REL0, RipasRangeOp(0x8000_0000, 0x8020_0000)))


def test_rel0_measures_the_seven_realm_params_and_beta0_only_the_hash() -> None:
    changed = RealmParams(flags=2, s2sz=40, sve_vl=3, num_bps=5, num_wps=3, pmu_num_ctrs=4)
    assert measure(plan(RmmProfile.REL0, params=changed)) != measure(plan(RmmProfile.REL0))
    assert measure(plan(RmmProfile.BETA0, params=changed)) == measure(plan(RmmProfile.BETA0))


def test_with_overrides_changes_profile_and_hash() -> None:
    original = plan(RmmProfile.REL0, RecOp(True, 0x8000_0000))
    overridden = original.with_overrides(rmm=RmmProfile.BETA0, hash=HashAlgorithm.SHA512)
    assert (overridden.rmm, overridden.hash) == (RmmProfile.BETA0, HashAlgorithm.SHA512)
    assert len(measure(overridden)) == 64 and original.hash is HashAlgorithm.SHA256


def test_sha256_rim_is_zero_padded_to_64_bytes_in_descriptors() -> None:
    measurement = RealmMeasurement(PARAMS, RmmProfile.REL0)
    assert len(measurement.rim) == 32
    assert measurement.rim_buffer == measurement.rim + bytes(32)


def test_data_descriptor_layout_matches_the_reference() -> None:
    rim = bytes(range(32)) + bytes(32)
    content = bytes([0x5A]) * 64
    descriptor = data_descriptor(rim, 0x8000_1000, 1, content)
    assert len(descriptor) == 0x100
    assert descriptor[0x00] == 0 and struct.unpack_from("<Q", descriptor, 0x08) == (0x100,)
    assert descriptor[0x10:0x50] == rim
    assert struct.unpack_from("<QQ", descriptor, 0x50) == (0x8000_1000, 1)
    assert descriptor[0x60:0xA0] == content and descriptor[0xA0:] == bytes(0x60)


def test_rec_params_layout_matches_the_reference() -> None:
    params = measured_rec_params(True, 0x8000_0000, [0x8FE0_0000, 7])
    assert len(params) == 0x1000
    assert struct.unpack_from("<Q", params, 0x000) == (1,)
    assert struct.unpack_from("<Q", params, 0x200) == (0x8000_0000,)
    assert struct.unpack_from("<8Q", params, 0x300) == (0x8FE0_0000, 7, 0, 0, 0, 0, 0, 0)
    assert params[0x340:] == bytes(0x1000 - 0x340) and params[0x100:0x200] == bytes(0x100)


def test_realm_params_layout_matches_the_reference() -> None:
    params = RealmParams(flags=5, s2sz=33, sve_vl=2, num_bps=1, num_wps=3, pmu_num_ctrs=4,
                         hash_algo=HashAlgorithm.SHA512)
    rel0 = params.measured_bytes(RmmProfile.REL0)
    assert struct.unpack_from("<QIxxxxIxxxxIxxxxIxxxxIxxxxB", rel0, 0) == (5, 33, 2, 1, 3, 4, 1)
    assert rel0[0x31:] == bytes(0x1000 - 0x31)
    beta0 = params.measured_bytes(RmmProfile.BETA0)
    assert beta0 == bytes(0x100) + b"\x01" + bytes(0x1000 - 0x101)
