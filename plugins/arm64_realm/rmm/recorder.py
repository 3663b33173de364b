"""Recording a realm plan from the RMI calls a model of KVM makes.

The KVM model (``--dry-run``) calls a :class:`PlanRecorder` where the real kernel
would call the RMM::

    recorder = PlanRecorder(RmmProfile.BETA0)
    recorder.create(RealmParams(s2sz=33, hash_algo=HashAlgorithm.SHA256))
    recorder.init_ripas_block(ipa, level=3)                   # RFC-v1 INIT_IPA_REALM
    recorder.data_create(ipa, page_bytes, measure=True)       # POPULATE_REALM, per page
    recorder.rec_create(runnable=True, pc=entry_point, gprs=[dtb])
    rim = recorder.measure()
    recorder.save("realm-plan.json")    # `vmm realm measure --plan` gives the same RIM

Each call is checked as it is made (alignment, the RIPAS form of the profile), so
the model learns at once when it issues something the RMM would refuse.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .errors import MeasurementError, PlanError
from .plan import RIPAS_OPS, DataOp, Op, Plan, RecOp, RipasBlockOp, RipasRangeOp, measure
from .plan_json import save_plan
from .profiles import DEFAULT_PROFILE, RmmProfile
from .realm_params import RealmParams


class PlanRecorder:
    """Collects RMI operations, in order, into a :class:`Plan`."""

    def __init__(self, rmm: RmmProfile = DEFAULT_PROFILE, origin: str = "recorded plan") -> None:
        """:param rmm: The RMM profile the plan is measured under.
        :param origin: How messages name the plan."""
        self.rmm = rmm
        self.origin = origin
        self._params: RealmParams | None = None
        self._ops: list[Op] = []

    def create(self, params: RealmParams) -> None:
        """RMI_REALM_CREATE: must come first, once."""
        if self._params is not None:
            raise PlanError(f"{self.origin}: the realm was already created")
        self._params = params

    def init_ripas_range(self, base: int, top: int, level: int | None = None) -> None:
        """RMM 1.0 RMI_RTT_INIT_RIPAS(base, top) that walked entries of ``level``."""
        self._record(RipasRangeOp(base=base, top=top, level=level))

    def init_ripas_block(self, ipa: int, level: int) -> None:
        """beta0 RMI_RTT_INIT_RIPAS(ipa, level)."""
        self._record(RipasBlockOp(ipa=ipa, level=level))

    def data_create(self, ipa: int, page: bytes, measure: bool) -> None:
        """RMI_DATA_CREATE of one granule; ``page`` (at most 4 KiB) is kept in memory."""
        self._record(DataOp(ipa=ipa, measure=measure, content=bytes(page)))

    def rec_create(self, runnable: bool, pc: int, gprs: Sequence[int] = ()) -> None:
        """RMI_REC_CREATE with ``pc`` and x0.. from ``gprs`` (missing ones are zero)."""
        self._record(RecOp(runnable=runnable, pc=pc, gprs=tuple(gprs)))

    @property
    def plan(self) -> Plan:
        """The plan recorded so far."""
        if self._params is None:
            raise PlanError(f"{self.origin}: the realm has not been created yet")
        return Plan(realm_params=self._params, rmm=self.rmm, ops=tuple(self._ops), origin=self.origin)

    def measure(self) -> bytes:
        """The RIM of the plan recorded so far."""
        return measure(self.plan)

    def save(self, path: str | Path) -> Path:
        """Write the plan as JSON at ``path``, its pages in one file beside it."""
        return save_plan(self.plan, path)

    def _record(self, op: Op) -> None:
        """Append ``op`` after checking it against the profile."""
        if self._params is None:
            raise PlanError(f"{self.origin}: RMI_REALM_CREATE must come before {op.KIND}")
        if isinstance(op, RIPAS_OPS):
            try:
                self.rmm.check_ripas_form(op.FORM)
            except MeasurementError as error:
                raise PlanError(f"{self.origin}: {error}") from None
        self._ops.append(op)
