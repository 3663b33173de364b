"""A model of the Arm RMM's realm measurement, and realm plans to measure.

Public API (import from here):

- :class:`RealmMeasurement`: the RIM one RMI call at a time (REALM_CREATE,
  DATA_CREATE, RTT_INIT_RIPAS, REC_CREATE) under an :class:`RmmProfile`.
- :class:`RealmParams`, :class:`HashAlgorithm`, :class:`RmmProfile`.
- :class:`Plan` and its ops, :func:`measure`, :func:`load_plan`, :func:`save_plan`.
- :class:`PlanRecorder`: what a model of KVM calls to record a plan.
- :func:`ripas_entries`: the RTT entries an RMM 1.0 INIT_RIPAS walks (see :mod:`.rtt`).
"""

from .algorithms import MEASUREMENT_BUFFER_SIZE, HashAlgorithm, pad_measurement
from .errors import MeasurementError, PlanError
from .measurement import RealmMeasurement
from .plan import DataOp, Op, Plan, RecOp, RipasBlockOp, RipasRangeOp, measure, measure_steps
from .plan_json import load_plan, parse_plan, save_plan
from .profiles import DEFAULT_PROFILE, RipasForm, RmmProfile
from .realm_params import RealmParams
from .recorder import PlanRecorder
from .rtt import RttEntry, init_ripas_call, ripas_entries

__all__ = [
    "DEFAULT_PROFILE",
    "MEASUREMENT_BUFFER_SIZE",
    "DataOp",
    "HashAlgorithm",
    "MeasurementError",
    "Op",
    "Plan",
    "PlanError",
    "PlanRecorder",
    "RealmMeasurement",
    "RealmParams",
    "RecOp",
    "RipasBlockOp",
    "RipasForm",
    "RipasRangeOp",
    "RmmProfile",
    "RttEntry",
    "init_ripas_call",
    "load_plan",
    "measure",
    "measure_steps",
    "pad_measurement",
    "parse_plan",
    "ripas_entries",
    "save_plan",
]
