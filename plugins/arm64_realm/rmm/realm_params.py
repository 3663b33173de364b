"""RmiRealmParams as the RMM receives them, and the bytes REALM_CREATE hashes.

The initial RIM is the hash of a zero-filled 4 KiB RmiRealmParams into which only the
measured fields are copied. Which fields, and where, depends on the RMM version: beta0
copies only the hash algorithm (at 0x100); RMM 1.0 and 2.0 copy seven fields at the
start of the page. Every integer is little-endian.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .algorithms import HashAlgorithm
from .errors import MeasurementError
from .profiles import RealmParamsMeasured, RmmProfile

#: RmiRealmParams is one 4 KiB granule.
REALM_PARAMS_SIZE = 0x1000

# beta0 (TF-RMM v0.2.0) layout: features_0 at 0 is not measured.
BETA0_HASH_ALGO_OFFSET = 0x100

# RMM 1.0 / 2.0 layout: each field sits in its own 8-byte slot.
FLAGS_OFFSET = 0x000
S2SZ_OFFSET = 0x008
SVE_VL_OFFSET = 0x010
NUM_BPS_OFFSET = 0x018
NUM_WPS_OFFSET = 0x020
PMU_NUM_CTRS_OFFSET = 0x028
HASH_ALGO_OFFSET = 0x030

# Bits of RmiRealmParams.flags (RMM 1.0).
FLAG_LPA2 = 1 << 0
FLAG_SVE = 1 << 1
FLAG_PMU = 1 << 2

_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")
_U8 = struct.Struct("<B")

_U64_MAX = (1 << 64) - 1
_U32_MAX = (1 << 32) - 1


@dataclass(frozen=True)
class RealmParams:
    """The measured RmiRealmParams fields, encoded exactly as the RMM receives them.

    ``num_bps``/``num_wps`` are the counts minus one (as ID_AA64DFR0_EL1 encodes
    them) and ``sve_vl`` is the vector length as VQ - 1 (VL / 128 - 1).
    """

    flags: int = 0
    s2sz: int = 0
    sve_vl: int = 0
    num_bps: int = 0
    num_wps: int = 0
    pmu_num_ctrs: int = 0
    hash_algo: HashAlgorithm = HashAlgorithm.SHA256

    def __post_init__(self) -> None:
        _check_width("flags", self.flags, _U64_MAX)
        for name in ("s2sz", "sve_vl", "num_bps", "num_wps", "pmu_num_ctrs"):
            _check_width(name, getattr(self, name), _U32_MAX)
        if not isinstance(self.hash_algo, HashAlgorithm):
            raise MeasurementError(f"hash_algo must be a HashAlgorithm, not {self.hash_algo!r}")

    def measured_bytes(self, profile: RmmProfile) -> bytes:
        """The zero-filled 4 KiB RmiRealmParams holding only what ``profile`` measures."""
        page = bytearray(REALM_PARAMS_SIZE)
        if profile.rules.realm_params_measured is RealmParamsMeasured.HASH_ALGO_ONLY:
            _U8.pack_into(page, BETA0_HASH_ALGO_OFFSET, self.hash_algo)
            return bytes(page)
        self._check_debug_counts(profile)
        _U64.pack_into(page, FLAGS_OFFSET, self.flags)
        _U32.pack_into(page, S2SZ_OFFSET, self.s2sz)
        _U32.pack_into(page, SVE_VL_OFFSET, self.sve_vl)
        _U32.pack_into(page, NUM_BPS_OFFSET, self.num_bps)
        _U32.pack_into(page, NUM_WPS_OFFSET, self.num_wps)
        _U32.pack_into(page, PMU_NUM_CTRS_OFFSET, self.pmu_num_ctrs)
        _U8.pack_into(page, HASH_ALGO_OFFSET, self.hash_algo)
        return bytes(page)

    def _check_debug_counts(self, profile: RmmProfile) -> None:
        """RMM 1.0 reserves 0 for the (count minus one) breakpoint/watchpoint fields."""
        for name in ("num_bps", "num_wps"):
            if getattr(self, name) == 0:
                raise MeasurementError(
                    f"realm_params.{name} 0 is reserved in RMM profile {profile.label} "
                    "(the value is the count minus one, and Arm requires at least 2)"
                )


def _check_width(name: str, value: object, maximum: int) -> None:
    """Refuse a field value that is not an integer fitting its RmiRealmParams slot."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise MeasurementError(f"realm_params.{name} must be an integer in 0..{maximum:#x}, not {value!r}")
