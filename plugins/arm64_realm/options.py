"""The realm options of ``vmm run`` and their validation, with the series' rules.

``--realm``, ``--measurement-algo``, ``--realm-pv`` and ``--sve-vl`` are kvmtool's
(patches 09, 13, 15, 16) and are checked in the same order with the same messages,
each followed by what to do. ``--rmm`` and ``--plan-out`` are this VMM's: the RMM
whose measurement rules the predicted RIM follows, and where to write the RMI-level
plan of a ``--dry-run``.
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
    :param rmm: The RMM profile the predicted measurement follows.
    :param plan_out: Where a dry run writes the recorded RMI plan, or None.
    """

    hash_algo: HashAlgorithm
    rpv: bytes | None
    sve_vq: int | None
    rmm: RmmProfile
    plan_out: str | None = None


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
    group.addoption("--rmm", metavar="PROFILE",
                    help="RMM whose rules the predicted RIM follows: beta0, rel0 or 2.0 "
                         "(default: beta0, the RFC-v1 RMM).")
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
        rmm = RmmProfile.from_label(rmm_label) if rmm_label is not None else RmmProfile.BETA0
    except MeasurementError as error:
        raise ConfigError(f"--rmm: {error}") from None
    plan_out = options.plan_out
    if plan_out is not None:
        _check_plan_out(config, plan_out)
    return RealmSettings(hash_algo, rpv, sve_vq, rmm, plan_out)


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
    for flag, dest in (("--rmm", "rmm"), ("--plan-out", "plan_out")):
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
