"""RMM measurement profiles: which RMM's rules the RIM follows, and the host UABI each
RMM shipped with (a profile is only ever paired with that call sequence).

- ``beta0``: the RMM of the January 2023 RFC-v1 stack (TF-RMM <= v0.3.0), paired with
  the ``rfc-v1`` UABI. REALM_CREATE measures only the hash algorithm; RTT_INIT_RIPAS
  takes ``{ipa, level}`` and is measured once per call; every REC is measured.
- ``rel0``: RMM 1.0 (EAC3 to REL0, TF-RMM v0.4 to v0.8; the emulated CCA host's
  TF-RMM v0.8.0), paired with the ``v7`` UABI (linux-cca cca-host/v5 to v7 target RMM
  1.0). REALM_CREATE measures seven parameters; RTT_INIT_RIPAS takes ``{base, top}``
  and is measured once per RTT entry walked; only runnable RECs are measured.

RMM 2.0 (TF-RMM v0.9 and later) pairs with the v13+ host UABI (KVM_CAP_ARM_RMI,
KVM_ARM_RMI_POPULATE, RIPAS set at activation and no longer measured), which vmm
doesn't drive, so it has no profile here: a prediction under its rules would belong
to a call sequence no run of vmm makes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .errors import MeasurementError


class RealmParamsMeasured(enum.Enum):
    """Which RmiRealmParams fields REALM_CREATE copies into the initial RIM."""

    HASH_ALGO_ONLY = "hash algorithm only, at the beta0 offset"
    SEVEN_FIELDS = "flags, s2sz, sve_vl, num_bps, num_wps, pmu_num_ctrs, algorithm"


class RipasForm(enum.Enum):
    """The arguments RMI_RTT_INIT_RIPAS takes, which differ between RMM versions."""

    BLOCK = "{ipa, level}"
    RANGE = "{base, top}"


@dataclass(frozen=True)
class ProfileRules:
    """What an RMM version measures; everything the measurement model branches on."""

    realm_params_measured: RealmParamsMeasured
    ripas_form: RipasForm
    measures_every_rec: bool
    #: The host UABI generation this RMM shipped with ("rfc-v1" or "v7").
    uabi: str


class RmmProfile(enum.Enum):
    """An RMM version whose measurement rules the RIM follows."""

    BETA0 = "beta0"
    REL0 = "rel0"

    @property
    def label(self) -> str:
        """The name used on the command line and in plans."""
        return self.value

    @property
    def rules(self) -> ProfileRules:
        """The measurement rules of this RMM version."""
        return _RULES[self]

    @property
    def uabi(self) -> str:
        """The host UABI generation whose call sequence this RMM is measured with."""
        return self.rules.uabi

    def check_ripas_form(self, form: RipasForm) -> None:
        """Refuse an RTT_INIT_RIPAS form this RMM version does not take."""
        expected = self.rules.ripas_form
        if form is not expected:
            raise MeasurementError(
                f"RTT_INIT_RIPAS {form.value} is not the form RMM profile "
                f"{self.label} takes; it takes {expected.value}"
            )

    @classmethod
    def from_label(cls, label: str) -> RmmProfile:
        """Parse ``beta0`` or ``rel0``."""
        for profile in cls:
            if profile.label == label:
                return profile
        names = [profile.label for profile in cls]
        expected = ", ".join(names[:-1]) + " or " + names[-1]
        hint = " (RMM 2.0 pairs with the v13+ host UABI, which vmm doesn't drive)" \
            if label.startswith("2") else ""
        raise MeasurementError(f"RMM profile {label!r} is unknown (expected {expected}){hint}")

    @classmethod
    def for_uabi(cls, uabi: str) -> RmmProfile:
        """The profile of the RMM the ``uabi`` generation shipped with."""
        return next(profile for profile in cls if profile.uabi == uabi)


_RULES = {
    RmmProfile.BETA0: ProfileRules(
        realm_params_measured=RealmParamsMeasured.HASH_ALGO_ONLY,
        ripas_form=RipasForm.BLOCK,
        measures_every_rec=True,
        uabi="rfc-v1",
    ),
    RmmProfile.REL0: ProfileRules(
        realm_params_measured=RealmParamsMeasured.SEVEN_FIELDS,
        ripas_form=RipasForm.RANGE,
        measures_every_rec=False,
        uabi="v7",
    ),
}

#: The profile of the RFC-v1 stack this VMM reimplements.
DEFAULT_PROFILE = RmmProfile.BETA0
