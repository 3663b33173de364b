"""Realm plans: the ordered RMI operations that build a realm, and their RIM.

A :class:`Plan` is what a host does to an RMM, at the level of detail the RIM
depends on: the realm parameters, then RIPAS ranges, DATA granules and RECs in
order. The same plan can be measured offline (:func:`measure`), written as JSON
(:mod:`.plan_json`) and recorded from a model of KVM (:mod:`.recorder`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from .algorithms import HashAlgorithm
from .descriptors import GRANULE_SIZE, REC_PARAMS_NR_GPRS
from .errors import MeasurementError, PlanError
from .measurement import RealmMeasurement, check_granule_ipa, check_u64, pad_granule
from .profiles import DEFAULT_PROFILE, RipasForm, RmmProfile
from .realm_params import RealmParams


@dataclass(frozen=True)
class RipasRangeOp:
    """RMM 1.0 RMI_RTT_INIT_RIPAS over ``[base, top)``, walked entry by entry: entries
    of ``level`` when given (what the RMM walked), else the largest that fit."""

    KIND: ClassVar[str] = "ripas"
    FORM: ClassVar[RipasForm] = RipasForm.RANGE
    base: int
    top: int
    level: int | None = None

    def __post_init__(self) -> None:
        _checked(check_u64, "base", self.base)
        _checked(check_u64, "top", self.top)
        if self.level is not None and (isinstance(self.level, bool) or not isinstance(self.level, int)):
            raise PlanError(f"level must be an integer, not {self.level!r}")


@dataclass(frozen=True)
class RipasBlockOp:
    """beta0 RMI_RTT_INIT_RIPAS(ipa, level): one RTT entry per call."""

    KIND: ClassVar[str] = "ripas"
    FORM: ClassVar[RipasForm] = RipasForm.BLOCK
    ipa: int
    level: int

    def __post_init__(self) -> None:
        _checked(check_u64, "ipa", self.ipa)
        if isinstance(self.level, bool) or not isinstance(self.level, int):
            raise PlanError(f"level must be an integer, not {self.level!r}")


@dataclass(frozen=True)
class DataOp:
    """RMI_DATA_CREATE of the 4 KiB granule at ``ipa``.

    The content is either ``content`` (bytes held in memory, zero-padded to 4 KiB)
    or the 4 KiB at ``offset`` in ``file`` (zero-padded past the file's end). An
    unmeasured granule needs neither: only its IPA is measured.
    """

    KIND: ClassVar[str] = "data"
    ipa: int
    measure: bool
    file: Path | None = None
    offset: int = 0
    content: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        _checked(check_granule_ipa, self.ipa)
        if not isinstance(self.measure, bool):
            raise PlanError(f"measure must be true or false, not {self.measure!r}")
        _checked(check_u64, "offset", self.offset)
        if self.file is not None and self.content is not None:
            raise PlanError("data has both a file and in-memory content; give one")
        if self.content is not None and len(self.content) > GRANULE_SIZE:
            raise PlanError(f"data content is {len(self.content)} bytes, more than a 4 KiB granule")
        if self.measure and self.file is None and self.content is None:
            raise PlanError(f"measured data at {self.ipa:#x} needs a file (its content)")


@dataclass(frozen=True)
class RecOp:
    """RMI_REC_CREATE; registers not given are zero."""

    KIND: ClassVar[str] = "rec"
    runnable: bool
    pc: int
    gprs: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.runnable, bool):
            raise PlanError(f"runnable must be true or false, not {self.runnable!r}")
        _checked(check_u64, "pc", self.pc)
        object.__setattr__(self, "gprs", tuple(self.gprs))
        if len(self.gprs) > REC_PARAMS_NR_GPRS:
            raise PlanError(f"a REC takes at most {REC_PARAMS_NR_GPRS} gprs, not {len(self.gprs)}")
        for index, value in enumerate(self.gprs):
            _checked(check_u64, f"gprs[{index}]", value)


Op = RipasRangeOp | RipasBlockOp | DataOp | RecOp
RIPAS_OPS = (RipasRangeOp, RipasBlockOp)


@dataclass(frozen=True)
class Plan:
    """The RMI operations that build one realm, measured under one RMM profile.

    :param realm_params: What REALM_CREATE receives, including the hash algorithm.
    :param rmm: The RMM profile whose rules measure the plan.
    :param ops: The operations after REALM_CREATE, in order.
    :param origin: Where the plan came from, for messages (a file name).
    """

    realm_params: RealmParams
    rmm: RmmProfile = DEFAULT_PROFILE
    ops: tuple[Op, ...] = ()
    origin: str = field(default="plan", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", tuple(self.ops))
        for index, op in enumerate(self.ops):
            if isinstance(op, RIPAS_OPS):
                try:
                    self.rmm.check_ripas_form(op.FORM)
                except MeasurementError as error:
                    raise PlanError(self.locate(index, str(error))) from None

    @property
    def hash(self) -> HashAlgorithm:
        """The measurement algorithm (the realm parameters' ``hash_algo``)."""
        return self.realm_params.hash_algo

    def with_overrides(self, *, rmm: RmmProfile | None = None, hash: HashAlgorithm | None = None) -> Plan:
        """This plan measured under another profile or hash algorithm (revalidated)."""
        params = self.realm_params
        if hash is not None:
            params = dataclasses.replace(params, hash_algo=hash)
        return dataclasses.replace(self, realm_params=params, rmm=rmm or self.rmm)

    def locate(self, index: int, message: str) -> str:
        """Prefix a message with the plan's origin and the op it is about."""
        return f"{self.origin}: op {index} ({self.ops[index].KIND}): {message}"


def measure(plan: Plan) -> bytes:
    """The RIM an RMM of ``plan.rmm`` computes for ``plan`` (the digest's size)."""
    return measure_steps(plan)[-1]


def measure_steps(plan: Plan) -> list[bytes]:
    """The RIM after each op of ``plan`` (after REALM_CREATE when there is no op)."""
    measurement = _start(plan)
    pages = PageReader()
    rims = []
    for index, op in enumerate(plan.ops):
        try:
            _apply(measurement, op, pages)
        except (MeasurementError, PlanError) as error:
            raise PlanError(plan.locate(index, str(error))) from None
        rims.append(measurement.rim)
    return rims or [measurement.rim]


def _start(plan: Plan) -> RealmMeasurement:
    """REALM_CREATE for ``plan``."""
    try:
        return RealmMeasurement(plan.realm_params, plan.rmm)
    except MeasurementError as error:
        raise PlanError(f"{plan.origin}: {error}") from None


def _apply(measurement: RealmMeasurement, op: Op, pages: PageReader) -> None:
    """Feed one plan op to the measurement model."""
    if isinstance(op, RipasRangeOp):
        measurement.init_ripas_range(op.base, op.top, op.level)
    elif isinstance(op, RipasBlockOp):
        measurement.init_ripas_block(op.ipa, op.level)
    elif isinstance(op, DataOp):
        page = pages.page(op) if op.measure else None
        measurement.data_create(op.ipa, page, op.measure)
    elif isinstance(op, RecOp):
        measurement.rec_create(op.runnable, op.pc, op.gprs)
    else:  # pragma: no cover - the Op union is closed
        raise TypeError(f"not a plan op: {op!r}")


class PageReader:
    """Reads DATA granules from their files, each file read once."""

    def __init__(self) -> None:
        self._files: dict[Path, bytes] = {}

    def page(self, op: DataOp) -> bytes:
        """The 4 KiB granule ``op`` populates, zero-padded past the end of its file."""
        if op.content is not None:
            return pad_granule(op.content)
        if op.file is None:
            return bytes(GRANULE_SIZE)
        data = self._read(op.file)
        return data[op.offset : op.offset + GRANULE_SIZE].ljust(GRANULE_SIZE, b"\0")

    def _read(self, path: Path) -> bytes:
        """The whole file at ``path``, cached."""
        if path not in self._files:
            try:
                self._files[path] = path.read_bytes()
            except OSError as error:
                raise PlanError(f"cannot read {str(path)!r}: {error.strerror}") from None
        return self._files[path]


def _checked(check: Callable[..., None], *args: object) -> None:
    """Run a measurement-model check, reporting its failure as a PlanError."""
    try:
        check(*args)
    except MeasurementError as error:
        raise PlanError(str(error)) from None
