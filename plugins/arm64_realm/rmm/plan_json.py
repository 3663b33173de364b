"""Realm plans as JSON: strict loading, and saving with in-memory pages beside.

The format::

    {"hash": "sha256" | "sha512",          (default sha256)
     "rmm": "beta0" | "rel0",              (default beta0)
     "realm_params": {"flags": 0, "s2sz": 33, "sve_vl": 0,
                      "num_bps": 1, "num_wps": 1, "pmu_num_ctrs": 0},
     "ops": [
       {"op": "ripas", "base": "0x80000000", "top": "0x80200000"},   (RMM 1.0)
       {"op": "ripas", "base": "0x80000000", "top": "0x80200000", "level": 3},
       {"op": "ripas", "ipa": "0x80000000", "level": 2},              (beta0)
       {"op": "data", "ipa": "0x80000000", "measure": true,
        "file": "kernel.img", "offset": 0},
       {"op": "data", "ipa": "0x80001000", "measure": false},
       {"op": "rec", "runnable": true, "pc": "0x80000000", "gprs": ["0x8fe00000"]}]}

A RMM 1.0 ``ripas`` op is one RMI_RTT_INIT_RIPAS call; with ``level`` its entries are
of that RTT level (as a model of the host recorded them), without it the largest
entries that fit. Integers are JSON numbers or ``0x`` hex strings. ``realm_params`` hold the values as
the RMM receives them (num_bps/num_wps minus one, sve_vl as VQ - 1). A relative
``file`` is relative to the plan file. Unknown keys are refused, so a typo never
silently changes a measurement.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from .algorithms import HashAlgorithm
from .errors import MeasurementError, PlanError
from .measurement import pad_granule
from .plan import DataOp, Op, Plan, RecOp, RipasBlockOp, RipasRangeOp
from .profiles import DEFAULT_PROFILE, RmmProfile
from .realm_params import RealmParams

#: Fields of ``realm_params``, in RmiRealmParams order; all are required.
REALM_PARAM_FIELDS = ("flags", "s2sz", "sve_vl", "num_bps", "num_wps", "pmu_num_ctrs")
#: Suffix of the file that holds the in-memory pages of a saved plan.
PAGES_SUFFIX = ".pages"

_PLAN_KEYS = ("hash", "rmm", "realm_params", "ops")
_HEX_INTEGER = re.compile(r"0[xX][0-9a-fA-F]+")


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file; every problem is a one-line :class:`PlanError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError(f"{path}: plan file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise PlanError(f"{path}: cannot read the plan: {reason}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise PlanError(
            f"{path}: not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        ) from None
    return parse_plan(document, base_dir=path.parent, origin=str(path))


def parse_plan(document: object, base_dir: Path, origin: str = "plan") -> Plan:
    """Validate a decoded JSON plan; relative files are looked up in ``base_dir``."""
    if not isinstance(document, dict):
        raise PlanError(f"{origin}: a plan is a JSON object, not {_json_type(document)}")
    _check_keys(document, required=("realm_params", "ops"), optional=("hash", "rmm"), what="a plan")
    try:
        algorithm = HashAlgorithm.from_label(_string(document.get("hash", "sha256"), "hash"))
        profile = RmmProfile.from_label(_string(document.get("rmm", DEFAULT_PROFILE.label), "rmm"))
        params = _parse_realm_params(document["realm_params"], algorithm)
    except (MeasurementError, PlanError) as error:
        raise PlanError(f"{origin}: {error}") from None
    entries = document["ops"]
    if not isinstance(entries, list):
        raise PlanError(f"{origin}: ops must be a list, not {_json_type(entries)}")
    ops = [_parse_located_op(entry, index, base_dir, origin) for index, entry in enumerate(entries)]
    return Plan(realm_params=params, rmm=profile, ops=tuple(ops), origin=origin)


def _parse_realm_params(section: object, algorithm: HashAlgorithm) -> RealmParams:
    """The ``realm_params`` object, with the plan's hash algorithm."""
    if not isinstance(section, dict):
        raise PlanError(f"realm_params must be an object, not {_json_type(section)}")
    _check_keys(section, required=REALM_PARAM_FIELDS, optional=(), what="realm_params")
    values = {name: _integer(section[name], f"realm_params.{name}") for name in REALM_PARAM_FIELDS}
    return RealmParams(**values, hash_algo=algorithm)


def _parse_located_op(entry: object, index: int, base_dir: Path, origin: str) -> Op:
    """One op, its errors prefixed with where it is."""
    kind = entry.get("op") if isinstance(entry, dict) else None
    known = isinstance(kind, str) and kind in _OP_PARSERS  # a list or object is no op name
    where = f"{origin}: op {index}" + (f" ({kind})" if known else "")
    try:
        return _parse_op(entry, base_dir)
    except (MeasurementError, PlanError) as error:
        raise PlanError(f"{where}: {error}") from None


def _parse_op(entry: object, base_dir: Path) -> Op:
    """One op object, dispatched on its ``op`` key."""
    if not isinstance(entry, dict):
        raise PlanError(f"an op is an object, not {_json_type(entry)}")
    if "op" not in entry:
        raise PlanError("missing 'op'")
    kind = entry["op"]
    parser = _OP_PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        raise PlanError(f"unknown op {kind!r} (expected {', '.join(_OP_PARSERS)})")
    fields = {key: value for key, value in entry.items() if key != "op"}
    return parser(fields, base_dir)


def _parse_ripas(fields: dict, base_dir: Path) -> Op:
    """``{base, top[, level]}`` (RMM 1.0) or ``{ipa, level}`` (beta0)."""
    if set(fields) in ({"base", "top"}, {"base", "top", "level"}):
        level = _integer(fields["level"], "level") if "level" in fields else None
        return RipasRangeOp(base=_integer(fields["base"], "base"), top=_integer(fields["top"], "top"),
                            level=level)
    if set(fields) == {"ipa", "level"}:
        return RipasBlockOp(ipa=_integer(fields["ipa"], "ipa"), level=_integer(fields["level"], "level"))
    given = ", ".join(sorted(fields)) or "nothing"
    raise PlanError(
        f"ripas takes {{base, top}} or {{base, top, level}} (RMM 1.0) or {{ipa, level}} (beta0), "
        f"not {{{given}}}"
    )


def _parse_data(fields: dict, base_dir: Path) -> Op:
    """A DATA granule, its content at ``offset`` in ``file``."""
    _check_keys(fields, required=("ipa", "measure"), optional=("file", "offset"), what="data")
    ipa = _integer(fields["ipa"], "ipa")
    measure = _boolean(fields["measure"], "measure")
    if "offset" in fields and "file" not in fields:
        raise PlanError("offset is given without a file")
    file = _existing_file(fields["file"], base_dir) if "file" in fields else None
    offset = _integer(fields.get("offset", 0), "offset")
    return DataOp(ipa=ipa, measure=measure, file=file, offset=offset)


def _parse_rec(fields: dict, base_dir: Path) -> Op:
    """A REC; missing gprs are zero."""
    _check_keys(fields, required=("runnable", "pc"), optional=("gprs",), what="rec")
    gprs = fields.get("gprs", [])
    if not isinstance(gprs, list):
        raise PlanError(f"gprs must be a list, not {_json_type(gprs)}")
    return RecOp(
        runnable=_boolean(fields["runnable"], "runnable"),
        pc=_integer(fields["pc"], "pc"),
        gprs=tuple(_integer(value, f"gprs[{index}]") for index, value in enumerate(gprs)),
    )


_OP_PARSERS: Mapping[str, Callable[[dict, Path], Op]] = {
    "ripas": _parse_ripas,
    "data": _parse_data,
    "rec": _parse_rec,
}


def _check_keys(mapping: dict, required: tuple[str, ...], optional: tuple[str, ...], what: str) -> None:
    """Refuse missing required keys and keys that are neither required nor optional."""
    for key in required:
        if key not in mapping:
            raise PlanError(f"{what} is missing {key!r}")
    known = required + optional
    for key in mapping:
        if key not in known:
            raise PlanError(f"unknown key {key!r} in {what} (expected {', '.join(known)})")


def _integer(value: object, name: str) -> int:
    """A JSON number or ``0x`` hex string, as a non-negative integer."""
    if isinstance(value, str) and _HEX_INTEGER.fullmatch(value):
        return int(value, 16)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise PlanError(f"{name} must be a non-negative integer or a 0x hex string, not {json.dumps(value)}")


def _boolean(value: object, name: str) -> bool:
    """A JSON true or false."""
    if not isinstance(value, bool):
        raise PlanError(f"{name} must be true or false, not {json.dumps(value)}")
    return value


def _string(value: object, name: str) -> str:
    """A JSON string."""
    if not isinstance(value, str):
        raise PlanError(f"{name} must be a string, not {json.dumps(value)}")
    return value


def _existing_file(value: object, base_dir: Path) -> Path:
    """A data file, relative to the plan's directory, that must exist."""
    name = _string(value, "file")
    path = base_dir / name
    if not path.is_file():
        raise PlanError(f"file {name!r} not found (looked for {path})")
    return path


def _json_type(value: object) -> str:
    """How JSON calls the type of ``value``, for messages."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


# --------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------


def save_plan(plan: Plan, path: str | Path) -> Path:
    """Write ``plan`` as JSON at ``path``; in-memory pages go to one file beside it.

    The pages file (``path`` with ``.pages`` appended) holds each distinct page
    once, 4 KiB aligned; the data ops point into it by ``offset``, so loading and
    measuring the written plan gives the same RIM. Returns ``path``.
    """
    path = Path(path)
    pages_path = path.with_name(path.name + PAGES_SUFFIX)
    pages = _PageBlob()
    ops = [_with_file_content(op, pages, pages_path) for op in plan.ops]
    if pages.data:
        pages_path.write_bytes(bytes(pages.data))
    saved = dataclasses.replace(plan, ops=tuple(ops))
    document = plan_document(saved, base_dir=path.parent)
    path.write_text(format_plan_document(document), encoding="utf-8")
    return path


def format_plan_document(document: dict) -> str:
    """JSON text of a plan document with one op per line, so long plans stay readable."""
    lines = [f"  {json.dumps(key)}: {json.dumps(value)}," for key, value in document.items() if key != "ops"]
    ops = ",\n".join(f"    {json.dumps(op)}" for op in document["ops"])
    lines.append(f'  "ops": [\n{ops}\n  ]' if ops else '  "ops": []')
    return "{\n" + "\n".join(lines) + "\n}\n"


def plan_document(plan: Plan, base_dir: Path) -> dict:
    """The JSON object of a plan whose data content all lives in files."""
    return {
        "hash": plan.hash.label,
        "rmm": plan.rmm.label,
        "realm_params": {name: getattr(plan.realm_params, name) for name in REALM_PARAM_FIELDS},
        "ops": [_op_document(op, base_dir) for op in plan.ops],
    }


def _op_document(op: Op, base_dir: Path) -> dict:
    """One op as a JSON object: addresses as hex strings."""
    if isinstance(op, RipasRangeOp):
        document_range: dict = {"op": op.KIND, "base": hex(op.base), "top": hex(op.top)}
        if op.level is not None:
            document_range["level"] = op.level
        return document_range
    if isinstance(op, RipasBlockOp):
        return {"op": op.KIND, "ipa": hex(op.ipa), "level": op.level}
    if isinstance(op, DataOp):
        if op.content is not None:
            raise ValueError("in-memory data content must be saved with save_plan")
        document: dict = {"op": op.KIND, "ipa": hex(op.ipa), "measure": op.measure}
        if op.file is not None:
            document.update(file=_relative_name(op.file, base_dir), offset=hex(op.offset))
        return document
    return {"op": op.KIND, "runnable": op.runnable, "pc": hex(op.pc), "gprs": [hex(gpr) for gpr in op.gprs]}


def _relative_name(file: Path, base_dir: Path) -> str:
    """``file`` relative to the plan's directory when inside it, else absolute."""
    absolute = file.resolve()
    try:
        return absolute.relative_to(base_dir.resolve()).as_posix()
    except ValueError:
        return str(absolute)


class _PageBlob:
    """Distinct 4 KiB pages laid end to end."""

    def __init__(self) -> None:
        self.data = bytearray()
        self._offsets: dict[bytes, int] = {}

    def add(self, page: bytes) -> int:
        """Store ``page`` (once) and return its offset."""
        if page not in self._offsets:
            self._offsets[page] = len(self.data)
            self.data += page
        return self._offsets[page]


def _with_file_content(op: Op, pages: _PageBlob, pages_path: Path) -> Op:
    """A data op with in-memory content turned into one reading ``pages_path``."""
    if not isinstance(op, DataOp) or op.content is None:
        return op
    offset = pages.add(pad_granule(op.content))
    return dataclasses.replace(op, file=pages_path, offset=offset, content=None)
