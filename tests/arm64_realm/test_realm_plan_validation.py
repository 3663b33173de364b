"""Plan files: strict validation with one-line messages, integers, files and padding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from realm_rim_vectors import REALM_PARAMS

from vmm.core.errors import VmmError
from vmm.plugins.arm64_realm.rmm import DataOp, PlanError, load_plan, measure

V2_5_SHA256 = "b95e33e13964fed307570588c6f2361bdddb9dd673873217212bf51c2b221476"


def write(directory: Path, document: object, name: str = "plan.json") -> Path:
    """Write ``document`` as JSON (or text as is) and return the path."""
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def plan_with(ops: list, rmm: str = "rel0", **top: object) -> dict:
    """A plan document with the vectors' realm parameters."""
    return {"hash": "sha256", "rmm": rmm, "realm_params": dict(REALM_PARAMS), "ops": ops, **top}


def load_error(directory: Path, document: object) -> str:
    """The message of the PlanError loading ``document`` raises."""
    path = write(directory, document)
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    message = str(caught.value)
    assert "\n" not in message
    return message.removeprefix(f"{path}: ")


def test_plan_error_is_a_vmm_error() -> None:
    assert issubclass(PlanError, VmmError)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            plan_with([{"op": "pages", "ipa": 0}]),
            "op 0: unknown op 'pages' (expected ripas, data, rec)",
        ),
        (  # found by fuzzing (python -m fuzz realm-plan): a TypeError traceback before
            plan_with([{"op": ["0x8fe0000"]}]),
            "op 0: unknown op ['0x8fe0000'] (expected ripas, data, rec)",
        ),
        (
            plan_with([{"op": {"ripas": 1}}]),
            "op 0: unknown op {'ripas': 1} (expected ripas, data, rec)",
        ),
        (
            plan_with([{"op": "ripas", "base": "0x80000000", "top": "0x80200000"}], rmm="beta0"),
            "op 0 (ripas): RTT_INIT_RIPAS {base, top} is not the form RMM profile beta0 takes; "
            "it takes {ipa, level}",
        ),
        (
            plan_with([{"op": "ripas", "ipa": "0x80000000", "level": 2}], rmm="rel0"),
            "op 0 (ripas): RTT_INIT_RIPAS {ipa, level} is not the form RMM profile rel0 takes; "
            "it takes {base, top}",
        ),
        (plan_with([], rmm="2.0"), "RMM profile '2.0' is unknown (expected beta0 or rel0) "
                                   "(RMM 2.0 pairs with the v13+ host UABI, which vmm doesn't drive)"),
        (
            plan_with([{"op": "ripas", "base": 0}]),
            "op 0 (ripas): ripas takes {base, top} or {base, top, level} (RMM 1.0) or {ipa, level} (beta0), not {base}",
        ),
        (plan_with([], hash="sha384"), "hash 'sha384' is not supported (expected sha256 or sha512)"),
        (plan_with([], hash="SHA256"), "hash 'SHA256' is not supported (expected sha256 or sha512)"),
        (plan_with([], rmm="eac5"), "RMM profile 'eac5' is unknown (expected beta0 or rel0)"),
        (
            plan_with([{"op": "data", "ipa": "0x80000800", "measure": False}]),
            "op 0 (data): ipa 0x80000800 is not 4 KiB aligned",
        ),
        (
            plan_with([{"op": "data", "ipa": 0, "measure": True}]),
            "op 0 (data): measured data at 0x0 needs a file (its content)",
        ),
        (
            plan_with([{"op": "data", "ipa": 0, "measure": "yes"}]),
            'op 0 (data): measure must be true or false, not "yes"',
        ),
        (
            plan_with([{"op": "data", "ipa": 0, "measure": False, "offset": 0}]),
            "op 0 (data): offset is given without a file",
        ),
        (
            plan_with([{"op": "data", "ipa": 0, "measure": False, "flags": 1}]),
            "op 0 (data): unknown key 'flags' in data (expected ipa, measure, file, offset)",
        ),
        (plan_with([{"op": "rec", "pc": 0}]), "op 0 (rec): rec is missing 'runnable'"),
        (
            plan_with([{"op": "rec", "runnable": True, "pc": 0, "gprs": list(range(9))}]),
            "op 0 (rec): a REC takes at most 8 gprs, not 9",
        ),
        (
            plan_with([{"op": "rec", "runnable": True, "pc": -1}]),
            "op 0 (rec): pc must be a non-negative integer or a 0x hex string, not -1",
        ),
        (
            plan_with([{"op": "rec", "runnable": True, "pc": "80000000"}]),
            'op 0 (rec): pc must be a non-negative integer or a 0x hex string, not "80000000"',
        ),
        (
            plan_with([{"op": "rec", "runnable": True, "pc": True}]),
            "op 0 (rec): pc must be a non-negative integer or a 0x hex string, not true",
        ),
        (
            plan_with([{"op": "rec", "runnable": True, "pc": "0x1" + "0" * 16}]),
            "op 0 (rec): pc must be an unsigned 64-bit integer, not 18446744073709551616",
        ),
        (plan_with(["data"]), "op 0: an op is an object, not a string"),
        (plan_with([{"ipa": 0}]), "op 0: missing 'op'"),
        ([], "a plan is a JSON object, not a list"),
        ({"realm_params": REALM_PARAMS}, "a plan is missing 'ops'"),
        (plan_with({}), "ops must be a list, not an object"),
        (plan_with([], version=2), "unknown key 'version' in a plan (expected realm_params, ops, hash, rmm)"),
        (
            {"realm_params": {**REALM_PARAMS, "s2sz": None}, "ops": []},
            "realm_params.s2sz must be a non-negative integer or a 0x hex string, not null",
        ),
        (
            {"realm_params": {key: 0 for key in list(REALM_PARAMS)[1:]}, "ops": []},
            "realm_params is missing 'flags'",
        ),
        (
            {"realm_params": {**REALM_PARAMS, "s2sz": "0x100000000"}, "ops": []},
            "realm_params.s2sz must be an integer in 0..0xffffffff, not 4294967296",
        ),
    ],
)
def test_invalid_plan_is_one_line_plan_error(tmp_path: Path, document: object, message: str) -> None:
    assert load_error(tmp_path, document) == message


def test_missing_data_file_names_the_file_and_where_it_was_looked_for(tmp_path: Path) -> None:
    document = plan_with([{"op": "data", "ipa": 0, "measure": True, "file": "kernel.img"}])
    expected = f"op 0 (data): file 'kernel.img' not found (looked for {tmp_path / 'kernel.img'})"
    assert load_error(tmp_path, document) == expected


def test_missing_plan_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    with pytest.raises(PlanError, match=r"absent\.json: plan file not found$"):
        load_plan(path)


def test_bad_json_says_where(tmp_path: Path) -> None:
    assert load_error(tmp_path, '{"ops": [}') == "not valid JSON: Expecting value (line 1, column 10)"


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        (
            [{"op": "ripas", "base": "0x80000800", "top": "0x80200000"}],
            "op 0 (ripas): RIPAS range 0x80000800..0x80200000 is not 4 KiB aligned",
        ),
        (
            [{"op": "ripas", "base": "0x80200000", "top": "0x80200000"}],
            "op 0 (ripas): RIPAS range 0x80200000..0x80200000 is empty (top must be above base)",
        ),
        (
            [{"op": "ripas", "base": "0xfff00000", "top": "0x100200000"}],
            "op 0 (ripas): RIPAS range 0xfff00000..0x100200000 passes the protected IPA limit "
            "0x100000000 of a 33-bit realm",
        ),
    ],
)
def test_ripas_range_errors_come_when_measured(tmp_path: Path, ops: list, message: str) -> None:
    path = write(tmp_path, plan_with(ops))
    with pytest.raises(PlanError) as caught:
        measure(load_plan(path))
    assert str(caught.value) == f"{path}: {message}"


def test_rel0_reserves_zero_breakpoints(tmp_path: Path) -> None:
    document = {"rmm": "rel0", "realm_params": {**REALM_PARAMS, "num_bps": 0}, "ops": []}
    path = write(tmp_path, document)
    with pytest.raises(PlanError, match=r"realm_params\.num_bps 0 is reserved in RMM profile rel0"):
        measure(load_plan(path))


def test_beta0_ignores_the_fields_it_does_not_measure(tmp_path: Path) -> None:
    document = {"realm_params": {**REALM_PARAMS, "num_bps": 0, "flags": 7}, "ops": []}
    rim = measure(load_plan(write(tmp_path, document)))
    assert rim.hex() == "ad7facb2586fc6e966c004d7d1d16b024f5805ff7cb47c7a85dabd8b48892ca7"


def test_defaults_are_beta0_and_sha256(tmp_path: Path) -> None:
    plan = load_plan(write(tmp_path, {"realm_params": REALM_PARAMS, "ops": []}))
    assert (plan.rmm.label, plan.hash.label) == ("beta0", "sha256")


def test_hex_strings_and_numbers_give_the_same_plan(tmp_path: Path) -> None:
    (tmp_path / "page").write_bytes(b"\xaa" * 4096)
    as_hex = [
        {"op": "ripas", "base": "0x80000000", "top": "0x80200000"},
        {"op": "data", "ipa": "0x80000000", "measure": True, "file": "page", "offset": "0x0"},
        {"op": "data", "ipa": "0X80001000", "measure": False},
        {"op": "rec", "runnable": True, "pc": "0x80000000", "gprs": ["0x8FE00000"]},
    ]
    as_numbers = [
        {"op": "ripas", "base": 0x80000000, "top": 0x80200000},
        {"op": "data", "ipa": 0x80000000, "measure": True, "file": "page", "offset": 0},
        {"op": "data", "ipa": 0x80001000, "measure": False},
        {"op": "rec", "runnable": True, "pc": 0x80000000, "gprs": [0x8FE00000]},
    ]
    hex_params = {name: hex(value) for name, value in REALM_PARAMS.items()}
    hex_plan = load_plan(write(tmp_path, {"rmm": "rel0", "realm_params": hex_params, "ops": as_hex}, "hex.json"))
    number_plan = load_plan(write(tmp_path, plan_with(as_numbers), "numbers.json"))
    assert hex_plan == number_plan
    assert measure(hex_plan).hex() == measure(number_plan).hex() == V2_5_SHA256


def test_relative_files_are_relative_to_the_plan_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "page").write_bytes(b"\xaa" * 4096)
    (tmp_path / "plans" / "sub").mkdir(parents=True)
    (tmp_path / "plans" / "sub" / "page").write_bytes(b"\xaa" * 4096)
    monkeypatch.chdir(tmp_path / "images")
    ops = [
        {"op": "ripas", "base": "0x80000000", "top": "0x80200000"},
        {"op": "data", "ipa": "0x80000000", "measure": True, "file": "../../images/page"},
    ]
    plan = load_plan(write(tmp_path / "plans" / "sub", plan_with(ops)))
    assert plan.ops[1].file == tmp_path / "plans" / "sub" / "../../images/page"
    sibling = [ops[0], {**ops[1], "file": "page"}]
    sibling_plan = load_plan(write(tmp_path / "plans" / "sub", plan_with(sibling), "sibling.json"))
    expected = "bdcc15ebdc010bd89bda21cd23124ee36592fd948c8d5615004fcf239346d4bf"  # V2.3
    assert measure(plan).hex() == measure(sibling_plan).hex() == expected


def test_absolute_file_paths_are_kept(tmp_path: Path) -> None:
    page = tmp_path / "page"
    page.write_bytes(b"\xaa" * 4096)
    plan = load_plan(write(tmp_path / "elsewhere", plan_with([
        {"op": "data", "ipa": 0, "measure": True, "file": str(page)},
    ])))
    assert plan.ops[0] == DataOp(ipa=0, measure=True, file=page)


def _measured_page_rim(tmp_path: Path, data: bytes, offset: int, name: str) -> str:
    """The RIM of a rel0 plan measuring the page at ``offset`` of a file holding ``data``."""
    (tmp_path / name).write_bytes(data)
    op = {"op": "data", "ipa": "0x80000000", "measure": True, "file": name, "offset": offset}
    return measure(load_plan(write(tmp_path, plan_with([op]), f"{name}.json"))).hex()


def test_pages_are_zero_padded_past_the_end_of_the_file(tmp_path: Path) -> None:
    short = _measured_page_rim(tmp_path, b"\xaa" * 100, 0, "short")
    full = _measured_page_rim(tmp_path, b"\xaa" * 100 + bytes(3996), 0, "full")
    tail = _measured_page_rim(tmp_path, b"\x55" * 4096 + b"\xaa" * 100, 4096, "tail")
    assert short == full == tail
    assert short != _measured_page_rim(tmp_path, b"\xaa" * 101, 0, "longer")


def test_a_page_wholly_past_the_end_of_the_file_is_zero(tmp_path: Path) -> None:
    past_end = _measured_page_rim(tmp_path, b"\xaa" * 100, 0x2000, "past")
    zeros = _measured_page_rim(tmp_path, bytes(4096), 0, "zeros")
    assert past_end == zeros
