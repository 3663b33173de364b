"""A model of the RMM's Realm Initial Measurement (RIM), one RMI call at a time.

``RealmMeasurement.create`` is RMI_REALM_CREATE: ``RIM := H(measured RmiRealmParams)``.
Every later call extends it as ``RIM := H(descriptor)``, the descriptor embedding the
current RIM; what is measured follows the chosen :class:`RmmProfile`.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import descriptors, rtt
from .algorithms import HashAlgorithm, pad_measurement
from .descriptors import GRANULE_SIZE, RMI_MEASURE_CONTENT
from .errors import MeasurementError
from .profiles import RipasForm, RmmProfile
from .realm_params import RealmParams

_U64_MAX = (1 << 64) - 1
_ZERO_BUFFER = pad_measurement(b"")


class RealmMeasurement:
    """The RIM of one realm as an RMM of a given profile computes it."""

    def __init__(self, params: RealmParams, profile: RmmProfile) -> None:
        """RMI_REALM_CREATE: start the RIM from the measured realm parameters."""
        self.params = params
        self.profile = profile
        self._rim = self.algorithm.digest(params.measured_bytes(profile))

    @property
    def algorithm(self) -> HashAlgorithm:
        """The hash algorithm chosen at REALM_CREATE."""
        return self.params.hash_algo

    @property
    def rim(self) -> bytes:
        """The current RIM: as many bytes as the algorithm's digest."""
        return self._rim

    @property
    def rim_buffer(self) -> bytes:
        """The current RIM zero-padded to the RMM's 64-byte measurement slot."""
        return pad_measurement(self._rim)

    def _extend(self, descriptor: bytes) -> None:
        """``RIM := H(descriptor)``."""
        self._rim = self.algorithm.digest(descriptor)

    def data_create(self, ipa: int, page: bytes | None, measure: bool) -> None:
        """RMI_DATA_CREATE of one 4 KiB granule; an unmeasured one still extends the RIM.

        :param ipa: IPA of the granule (4 KiB aligned).
        :param page: The granule's content, zero-padded to 4 KiB; unused when not
            measured, so it may be None then.
        :param measure: Whether the host passed ``RMI_MEASURE_CONTENT``.
        """
        check_granule_ipa(ipa)
        if measure:
            if page is None:
                raise MeasurementError(f"measured data at {ipa:#x} has no content")
            content = self.algorithm.padded_digest(pad_granule(page))
            flags = RMI_MEASURE_CONTENT
        else:
            content, flags = _ZERO_BUFFER, 0
        self._extend(descriptors.data_descriptor(self.rim_buffer, ipa, flags, content))

    def init_ripas_block(self, ipa: int, level: int) -> None:
        """beta0 RMI_RTT_INIT_RIPAS(ipa, level): one descriptor per call."""
        self.profile.check_ripas_form(RipasForm.BLOCK)
        rtt.check_ripas_block(ipa, level, self._ipa_bits())
        self._extend(descriptors.ripas_block_descriptor(self.rim_buffer, ipa, level))

    def init_ripas_range(self, base: int, top: int, level: int | None = None) -> list[rtt.RttEntry]:
        """RMM 1.0 RMI_RTT_INIT_RIPAS over ``[base, top)``: one descriptor per RTT entry
        walked; returns those entries.

        :param level: The level of the entries the RMM walked (every entry of one call
            is in one table): known when a model of the host recorded the call. When
            None, the host is assumed to use the largest entries that fit (see
            :mod:`.rtt`), as for a hand-written plan.
        """
        self.profile.check_ripas_form(RipasForm.RANGE)
        if level is None:
            entries = rtt.ripas_entries(base, top, self._ipa_bits())
        else:
            entries = rtt.entries_at_level(base, top, level, self._ipa_bits())
        for entry in entries:
            self._extend(descriptors.ripas_range_descriptor(self.rim_buffer, entry.base, entry.top))
        return entries

    def rec_create(self, runnable: bool, pc: int, gprs: Sequence[int] = ()) -> None:
        """RMI_REC_CREATE; measured for every REC in beta0, only runnable ones later."""
        for name, value in [("pc", pc), *((f"gprs[{i}]", gpr) for i, gpr in enumerate(gprs))]:
            check_u64(name, value)
        params = descriptors.measured_rec_params(runnable, pc, gprs)
        if runnable or self.profile.rules.measures_every_rec:
            content = self.algorithm.padded_digest(params)
            self._extend(descriptors.rec_descriptor(self.rim_buffer, content))

    def _ipa_bits(self) -> int:
        """The IPA width RTT walks assume.

        beta0 does not measure s2sz, but its value still shapes the RTT: a plan for
        beta0 must carry the s2sz the host passes.
        """
        return self.params.s2sz


def pad_granule(page: bytes) -> bytes:
    """Zero-pad page content to one 4 KiB granule; refuse more than a granule."""
    if len(page) > GRANULE_SIZE:
        raise MeasurementError(f"a granule holds {GRANULE_SIZE} bytes, not {len(page)}")
    return bytes(page).ljust(GRANULE_SIZE, b"\0")


def check_granule_ipa(ipa: int) -> None:
    """Refuse an IPA that is not a 4 KiB-aligned 64-bit address."""
    check_u64("ipa", ipa)
    if ipa % GRANULE_SIZE:
        raise MeasurementError(f"ipa {ipa:#x} is not 4 KiB aligned")


def check_u64(name: str, value: object) -> None:
    """Refuse a value that is not an unsigned 64-bit integer."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _U64_MAX:
        raise MeasurementError(f"{name} must be an unsigned 64-bit integer, not {value!r}")
