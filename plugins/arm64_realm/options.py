"""The realm options of ``vmm run`` and their validation, with the series' rules.

``--realm``, ``--measurement-algo``, ``--realm-pv`` and ``--sve-vl`` are kvmtool's
(patches 09, 13, 15, 16) and are checked in the same order with the same messages,
each followed by what to do. The others are this VMM's: ``--realm-uabi`` forces the
host UABI generation (else it is detected), ``--rmm`` names the RMM whose rules the
predicted RIM follows (each RMM pairs with one UABI generation), ``--model-rme`` says
what realm support the model of KVM has in a ``--dry-run``, and ``--plan-out`` where
the dry run writes the RMI-level plan.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vmm import hookimpl
from vmm.core.errors import ConfigError

from .uapi import RME_RPV_SIZE

if TYPE_CHECKING:  # pragma: no cover - annotations only
    from vmm.core.config import Config
    from vmm.core.options import OptionGroup

    from .rmm import HashAlgorithm, RmmProfile

#: The layer's name (its entry point), under which its options are bound.
PLUGIN = "arm64_realm"

#: The host UABI generations vmm drives, and what a model without realm support is.
RFC_V1, V7, NO_RME = "rfc-v1", "v7", "none"
UABIS = (RFC_V1, V7)

#: SVE vector lengths are multiples of 128 bits.
SVE_VL_GRANULE = 128
#: The longest SVE vector the architecture allows, in bits.
SVE_VL_MAX = 2048


@dataclass(frozen=True)
class RealmSettings:
    """A realm's validated options, as the lifecycle uses them.

    :param hash_algo: The measurement algorithm sent with CONFIG_REALM(HASH_ALGO).
    :param rpv: The Realm Personalisation Value, zero-padded to 64 bytes, or None.
    :param sve_vq: The SVE vector length as VQ - 1 (CONFIG_REALM(SVE)), or None when
        SVE is off (always, unless ``--sve-vl`` was given).
    :param rmm: The RMM profile asked for with ``--rmm``, or None.
    :param uabi: The UABI generation forced with ``--realm-uabi``, or None (detected).
    :param model_rme: With ``--dry-run``: the realm support of the model of KVM
        ("rfc-v1", "v7" or "none"), or None.
    :param plan_out: Where a dry run writes the recorded RMI plan, or None.
    """

    hash_algo: HashAlgorithm
    rpv: bytes | None
    sve_vq: int | None
    rmm: RmmProfile | None = None
    uabi: str | None = None
    model_rme: str | None = None
    plan_out: str | None = None

    @property
    def model_generation(self) -> str:
        """The realm support the model of KVM has: ``--model-rme``, else the generation
        ``--realm-uabi`` or ``--rmm`` asks for, else RFC-v1 (the series')."""
        if self.model_rme is not None:
            return self.model_rme
        if self.uabi is not None:
            return self.uabi
        return self.rmm.uabi if self.rmm is not None else RFC_V1


@hookimpl
def vmm_addoption(group: OptionGroup) -> None:
    """Declare ``--realm`` and its companions (kvmtool's RFC-v1 options, plus two)."""
    group.addoption("--realm", type=bool, help="Create VM running in a realm using Arm RME.")
    group.addoption(
        "--measurement-algo", metavar="ALGO",
        help="Realm Measurement algorithm: sha256 or sha512 (default: sha256).",
    )
    group.addoption("--realm-pv", metavar="STRING",
                    help="Personalisation Value (only) for Realm VMs: at most 64 bytes.")
    group.addoption("--sve-vl", type=int, metavar="BITS",
                    help="SVE Vector Length the VM (only supported for Realms); a multiple of 128.")
    group.addoption("--realm-uabi", metavar="rfc-v1|v7",
                    help="Realm host UABI to drive: rfc-v1 (the series') or v7 (guest_memfd); "
                         "default: detected (a kernel with guest_memfd is v7).")
    group.addoption("--rmm", metavar="PROFILE",
                    help="RMM whose rules the predicted RIM follows: beta0 (pairs with rfc-v1) "
                         "or rel0 (pairs with v7); default: the UABI's.")
    group.addoption("--model-rme", metavar="rfc-v1|v7|none",
                    help="With --dry-run: the realm support of the modelled kernel (default: "
                         "the --realm-uabi or --rmm asked for, else rfc-v1).")
    group.addoption("--plan-out", metavar="FILE",
                    help="With --dry-run: write the realm's RMI-level plan (JSON) to FILE.")


@hookimpl
def vmm_validate_config(config: Config) -> None:
    """Check the realm options (a realm without ``--sve-vl`` gets no SVE: see
    ``vmm_arm64_sve`` in :mod:`.lifecycle`)."""
    realm_settings(config)


def realm_settings(config: Config) -> RealmSettings | None:
    """The validated realm settings of ``config``, or None when it is not a realm.

    Raises ConfigError with the series' message for a bad combination. Pure: it does
    not change ``config`` (so it can be called again when the VM is built).
    """
    from .rmm import HashAlgorithm, MeasurementError, RmmProfile

    options = config.options_of(PLUGIN)
    sve_vl = options.sve_vl or 0
    if not options.realm:
        _refuse_realm_only_options(config, sve_vl)
        return None
    algo_name = options.measurement_algo
    if algo_name is None:
        hash_algo = HashAlgorithm.SHA256
    elif algo_name in ("sha256", "sha512"):
        hash_algo = HashAlgorithm.from_label(algo_name)
    else:
        raise ConfigError(
            f"unknown realm measurement algorithm {algo_name!r}: use sha256 or sha512"
        )
    sve_vq = _sve_vq(config, sve_vl)
    rpv = _rpv(options.realm_pv)
    rmm_label = options.rmm
    try:
        rmm = RmmProfile.from_label(rmm_label) if rmm_label is not None else None
    except MeasurementError as error:
        raise ConfigError(f"--rmm: {error}") from None
    uabi = _choice(options.realm_uabi, "--realm-uabi", UABIS)
    model_rme = _choice(options.model_rme, "--model-rme", (*UABIS, NO_RME))
    if model_rme is not None and not config.dry_run:
        raise ConfigError("--model-rme only makes sense with --dry-run (it describes the model of KVM)")
    for flag, generation in (("--realm-uabi", uabi), ("--model-rme", model_rme)):
        if rmm is not None and generation in UABIS:
            check_pairing(rmm, generation, flag)
    plan_out = options.plan_out
    if plan_out is not None:
        _check_plan_out(config, plan_out)
    return RealmSettings(hash_algo, rpv, sve_vq, rmm, uabi, model_rme, plan_out)


def check_pairing(rmm: RmmProfile, uabi: str, what: str) -> None:
    """Refuse an RMM profile with a UABI generation it never shipped with."""
    if rmm.uabi != uabi:
        from .rmm import RmmProfile as Profile

        raise ConfigError(
            f"--rmm {rmm.label} is the RMM of the {rmm.uabi} UABI, not of {what} {uabi}: "
            f"use --rmm {Profile.for_uabi(uabi).label} or drop --rmm"
        )


def _choice(value: str | None, flag: str, choices: tuple[str, ...]) -> str | None:
    """A value among ``choices`` (or None when the option wasn't given)."""
    if value is not None and value not in choices:
        raise ConfigError(f"{flag} {value!r} is unknown: give {' or '.join(choices)}")
    return value


def _check_plan_out(config: Config, plan_out: str) -> None:
    """The plan comes from the model of KVM, and goes to an existing directory."""
    if not config.dry_run:
        raise ConfigError("--plan-out needs --dry-run: the plan is recorded by the model of KVM")
    directory = os.path.dirname(os.path.abspath(plan_out))
    if not os.path.isdir(directory):
        raise ConfigError(f"--plan-out {plan_out!r}: directory {directory!r} does not exist")


def _refuse_realm_only_options(config: Config, sve_vl: int) -> None:
    """kvmtool's first check: realm options without ``--realm``."""
    options = config.options_of(PLUGIN)
    if options.measurement_algo is not None:
        raise ConfigError("--measurement-algo valid only with --realm: add --realm or drop it")
    if options.realm_pv is not None:
        raise ConfigError("--realm-pv valid only with --realm: add --realm or drop it")
    if sve_vl:
        raise ConfigError("--sve-vl valid only with --realm: add --realm or drop it")
    for flag, dest in (("--rmm", "rmm"), ("--realm-uabi", "realm_uabi"),
                       ("--model-rme", "model_rme"), ("--plan-out", "plan_out")):
        if getattr(options, dest) is not None:
            raise ConfigError(f"{flag} valid only with --realm: add --realm or drop it")


def _sve_vq(config: Config, sve_vl: int) -> int | None:
    """The SVE VL as VQ - 1, or None when no VL was asked for (SVE then stays off)."""
    if not sve_vl:
        return None
    if config.options_of("arm64").disable_sve:
        raise ConfigError("SVE VL requested when SVE is disabled: drop --disable-sve or --sve-vl")
    if sve_vl % SVE_VL_GRANULE:
        raise ConfigError(
            f"SVE VL is not aligned to 128bit: --sve-vl {sve_vl} must be a multiple of 128"
        )
    if not 0 < sve_vl <= SVE_VL_MAX:
        raise ConfigError(f"--sve-vl {sve_vl} is out of range: give 128 to {SVE_VL_MAX} bits")
    return sve_vl // SVE_VL_GRANULE - 1


def _rpv(text: str | None) -> bytes | None:
    """The RPV: the string's raw bytes (as kvmtool copies them), zero-padded to 64."""
    if text is None:
        return None
    raw = os.fsencode(text)
    if len(raw) > RME_RPV_SIZE:
        raise ConfigError(
            f"Invalid size for Realm Personalization Value: --realm-pv is {len(raw)} bytes, "
            f"give at most {RME_RPV_SIZE}"
        )
    return raw.ljust(RME_RPV_SIZE, b"\0")
