"""PlanRecorder: what the KVM model calls; saved plans measure the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmm.plugins.arm64_realm.rmm import (
    HashAlgorithm,
    PlanError,
    PlanRecorder,
    RealmParams,
    RmmProfile,
    load_plan,
    measure,
    ripas_entries,
    save_plan,
)

PARAMS = RealmParams(flags=0, s2sz=33, sve_vl=0, num_bps=1, num_wps=1, pmu_num_ctrs=0)
B1_5_SHA512 = (
    "dcbe83e27621462fd8cab06c7eea6c0421e4910bd8834248aa998707e91cfd6d"
    "38575e7928ce43fad9bc42351e825cc7cbfab1cfad3386c46189f798da4aa2e0"
)
V2_5_SHA256 = "b95e33e13964fed307570588c6f2361bdddb9dd673873217212bf51c2b221476"


def rel0_recording() -> PlanRecorder:
    """The V2 series, recorded."""
    recorder = PlanRecorder(RmmProfile.REL0)
    recorder.create(PARAMS)
    recorder.init_ripas_range(0x8000_0000, 0x8020_0000)
    recorder.data_create(0x8000_0000, b"\xaa" * 4096, measure=True)
    recorder.data_create(0x8000_1000, b"\x11" * 4096, measure=False)
    recorder.rec_create(True, 0x8000_0000, [0x8FE0_0000])
    return recorder


def test_recorded_plan_measures_the_vectors() -> None:
    assert rel0_recording().measure().hex() == V2_5_SHA256
    recorder = PlanRecorder()  # beta0 by default
    recorder.create(RealmParams(s2sz=33, hash_algo=HashAlgorithm.SHA512))
    for entry in ripas_entries(0x8000_0000, 0x8020_0000, 33):
        recorder.init_ripas_block(entry.base, entry.level)
    recorder.data_create(0x8000_0000, b"\xaa" * 4096, measure=True)
    recorder.rec_create(True, 0x8000_0000, [0x8FE0_0000])
    recorder.rec_create(False, 0)
    assert recorder.measure().hex() == B1_5_SHA512


def test_saved_plan_gives_the_same_rim(tmp_path: Path) -> None:
    recorder = rel0_recording()
    path = recorder.save(tmp_path / "realm.json")
    assert (tmp_path / "realm.json.pages").stat().st_size == 2 * 4096
    loaded = load_plan(path)
    assert measure(loaded) == recorder.measure()
    assert loaded.ops[1].file == tmp_path / "realm.json.pages"


def test_saved_pages_are_stored_once_and_short_pages_padded(tmp_path: Path) -> None:
    recorder = PlanRecorder(RmmProfile.REL0)
    recorder.create(PARAMS)
    recorder.data_create(0x8000_0000, b"\xaa" * 10, measure=True)
    recorder.data_create(0x8000_1000, b"\xaa" * 10 + bytes(4086), measure=True)
    recorder.data_create(0x8000_2000, b"", measure=True)
    recorder.save(tmp_path / "plan.json")
    pages = (tmp_path / "plan.json.pages").read_bytes()
    assert pages == b"\xaa" * 10 + bytes(4086) + bytes(4096)
    assert measure(load_plan(tmp_path / "plan.json")) == recorder.measure()


def test_saving_a_loaded_plan_keeps_file_references_relative(tmp_path: Path) -> None:
    path = rel0_recording().save(tmp_path / "first.json")
    resaved = tmp_path / "again.json"
    save_plan(load_plan(path), resaved)
    assert '"file": "first.json.pages"' in resaved.read_text()
    assert not (tmp_path / "again.json.pages").exists()
    assert measure(load_plan(resaved)).hex() == V2_5_SHA256


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (lambda r: r.create(PARAMS), "recorded plan: the realm was already created"),
        (lambda r: r.init_ripas_block(0x8000_0000, 2), "takes {base, top}"),
        (lambda r: r.data_create(0x8000_0800, b"", True), "ipa 0x80000800 is not 4 KiB aligned"),
        (lambda r: r.data_create(0x8000_0000, bytes(4097), True), "more than a 4 KiB granule"),
        (lambda r: r.rec_create(True, 0, range(9)), "at most 8 gprs"),
    ],
)
def test_recorder_refuses_what_the_rmm_would(action, message: str) -> None:
    recorder = PlanRecorder(RmmProfile.REL0)
    recorder.create(PARAMS)
    with pytest.raises(PlanError, match=message.replace("{", r"\{").replace("}", r"\}")):
        action(recorder)
    assert recorder.plan.ops == ()


def test_recorder_needs_create_first() -> None:
    recorder = PlanRecorder()
    with pytest.raises(PlanError, match="REALM_CREATE must come before data"):
        recorder.data_create(0, b"", False)
    with pytest.raises(PlanError, match="has not been created yet"):
        recorder.measure()
