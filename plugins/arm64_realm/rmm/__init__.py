"""A model of the Arm RMM's realm measurement, and realm plans to measure.

Public API (import from here):

- :class:`RealmMeasurement`: the RIM one RMI call at a time (REALM_CREATE,
  DATA_CREATE, RTT_INIT_RIPAS, REC_CREATE) under an :class:`RmmProfile`.
- :class:`RealmParams`, :class:`HashAlgorithm`, :class:`RmmProfile`.
- :mod:`.rtt`: the RTT entries an RMM 1.0 INIT_RIPAS walks (``ripas_entries``).
"""

from .algorithms import MEASUREMENT_BUFFER_SIZE, HashAlgorithm, pad_measurement
from .errors import MeasurementError, PlanError
from .measurement import RealmMeasurement
from .profiles import DEFAULT_PROFILE, RipasForm, RmmProfile
from .realm_params import RealmParams
from .rtt import RttEntry, init_ripas_call, ripas_entries

__all__ = [
    "DEFAULT_PROFILE",
    "MEASUREMENT_BUFFER_SIZE",
    "HashAlgorithm",
    "MeasurementError",
    "PlanError",
    "RealmMeasurement",
    "RealmParams",
    "RipasForm",
    "RmmProfile",
    "RttEntry",
    "init_ripas_call",
    "pad_measurement",
    "ripas_entries",
]
