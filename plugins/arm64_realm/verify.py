"""``vmm realm verify``: a realm's attestation token against what vmm launched.

Each claim of the token gets one line: the ones vmm can predict are compared (the
challenge when given, the personalisation value with ``--realm-pv``, the initial
measurement and its hash algorithm with the plan's RIM, and the binding of the
platform token to the realm's key), the others are shown. The exit status is 0
when every compared claim matches, 1 otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vmm.core.errors import ConfigError

from .attestation import (
    CHALLENGE_SIZE,
    COMPONENT_TYPE,
    HASHES,
    PLATFORM_CHALLENGE,
    PLATFORM_CLAIM_NAMES,
    PLATFORM_LIFECYCLE,
    CcaToken,
    describe_public_key,
    read_token,
)

if TYPE_CHECKING:  # pragma: no cover - annotations only
    from .rmm import Plan

MATCH = "match"
MISMATCH = "MISMATCH"
INFO = "info"
#: Width of the claim-name column.
NAME_WIDTH = 30


@dataclass(frozen=True)
class ClaimLine:
    """One claim as ``vmm realm verify`` reports it."""

    name: str
    status: str
    detail: str

    def render(self) -> str:
        """``name  status  detail``, in columns."""
        return f"{self.name:<{NAME_WIDTH}} {self.status:<8} {self.detail}"


def short(data: bytes) -> str:
    """Bytes as hex, abbreviated past 16 bytes, with their length."""
    text = data.hex() if len(data) <= 16 else f"{data[:8].hex()}...{data[-4:].hex()}"
    return f"{text} ({len(data)} bytes)"


def _compared(name: str, actual: bytes, expected: bytes, shown: str) -> ClaimLine:
    if actual == expected:
        return ClaimLine(name, MATCH, shown)
    return ClaimLine(name, MISMATCH, f"{shown}, expected {short(expected)}")


def realm_lines(token: CcaToken, rim: bytes, plan_hash: str, rpv: bytes,
                challenge: bytes | None) -> list[ClaimLine]:
    """The realm token's claims against the prediction."""
    realm = token.realm
    lines = []
    if challenge is None:
        lines.append(ClaimLine("realm challenge", INFO, short(realm.challenge)))
    else:
        lines.append(_compared("realm challenge", realm.challenge, challenge,
                               short(realm.challenge)))
    lines.append(_compared("realm personalization value", realm.personalization_value, rpv,
                           _rpv_text(realm.personalization_value)))
    token_hash = HASHES.get(realm.hash_algorithm, realm.hash_algorithm)
    lines.append(ClaimLine("realm hash algorithm", MATCH if token_hash == plan_hash else MISMATCH,
                           f"{realm.hash_algorithm} (plan: {plan_hash})"))
    if realm.initial_measurement == rim:
        lines.append(ClaimLine("realm initial measurement", MATCH, rim.hex()))
    else:
        lines.append(ClaimLine("realm initial measurement", MISMATCH,
                               f"{realm.initial_measurement.hex()}, predicted {rim.hex()}"))
    rems = realm.extensible_measurements
    shown = "all zero" if not any(any(rem) for rem in rems) else ", ".join(
        f"REM{index} {rem.hex()}" for index, rem in enumerate(rems))
    lines.append(ClaimLine("realm extensible measurements", INFO, shown))
    lines.append(ClaimLine("realm public key", INFO, describe_public_key(realm.public_key)))
    lines.append(ClaimLine("realm public key hash", INFO, realm.public_key_hash_algorithm))
    if realm.profile is not None:
        lines.append(ClaimLine("realm profile", INFO, realm.profile))
    lines += [ClaimLine(f"realm claim {key}", INFO, _value_text(value))
              for key, value in sorted(realm.others.items())]
    return lines


def platform_lines(token: CcaToken) -> list[ClaimLine]:
    """The platform token's binding to the realm key, then its claims as they are."""
    lines = [ClaimLine("platform binding", MATCH if token.binding_holds else MISMATCH,
                       f"platform challenge = {token.realm.public_key_hash_algorithm}"
                       "(realm public key)")]
    for key, value in token.platform.items():
        if key == PLATFORM_CHALLENGE:
            continue
        name = PLATFORM_CLAIM_NAMES.get(key, f"claim {key}")
        if isinstance(value, list):
            names = [str(entry.get(COMPONENT_TYPE, "?")) for entry in value
                     if isinstance(entry, dict)]
            shown = f"{len(value)}: {', '.join(names)}"
        else:
            shown = lifecycle_text(value) if key == PLATFORM_LIFECYCLE else _value_text(value)
        lines.append(ClaimLine(f"platform {name}", INFO, shown))
    lines.append(ClaimLine("signatures", INFO,
                           f"not checked (realm {token.realm_signature}, platform "
                           f"{token.platform_signature}: needs the platform's endorsed key)"))
    return lines


#: PSA security lifecycle states, by the claim's high byte.
LIFECYCLE_STATES = {0x00: "unknown", 0x10: "assembly and test", 0x20: "PSA RoT provisioning",
                    0x30: "secured", 0x40: "non-PSA RoT debug",
                    0x50: "recoverable PSA RoT debug", 0x60: "decommissioned"}


def lifecycle_text(value: object) -> str:
    """The platform's security lifecycle claim and its state's name."""
    if not isinstance(value, int):
        return _value_text(value)
    return f"{value:#06x} ({LIFECYCLE_STATES.get(value >> 8, 'unknown state')})"


def _rpv_text(rpv: bytes) -> str:
    text = rpv.rstrip(b"\0")
    if not text:
        return "all zero (no --realm-pv)"
    try:
        return repr(text.decode("ascii")) if text.decode("ascii").isprintable() else short(rpv)
    except UnicodeDecodeError:
        return short(rpv)


def _value_text(value: Any) -> str:
    return short(value) if isinstance(value, bytes) else str(value)


def parse_challenge(text: str) -> bytes:
    """``--challenge``: 64 bytes as 128 hex digits."""
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise ConfigError(f"--challenge {text!r}: give {CHALLENGE_SIZE} bytes in hex") from None
    if len(value) != CHALLENGE_SIZE:
        raise ConfigError(f"--challenge is {len(value)} bytes: give {CHALLENGE_SIZE} in hex")
    return value


def verify(token: CcaToken, plan: Plan, rpv: bytes, challenge: bytes | None) -> list[ClaimLine]:
    """Every claim line of ``token`` against ``plan`` and the expected values."""
    from .rmm import measure

    rim = measure(plan)
    return [*realm_lines(token, rim, plan.hash.label, rpv, challenge), *platform_lines(token)]


def verify_files(token_path: Path, plan_path: Path, realm_pv: str | None,
                 challenge: str | None) -> list[ClaimLine]:
    """``vmm realm verify``'s work: read the token and the plan, compare."""
    from .options import _rpv
    from .rmm import load_plan
    from .uapi import RME_RPV_SIZE

    expected_rpv = _rpv(realm_pv) or bytes(RME_RPV_SIZE)
    expected_challenge = parse_challenge(challenge) if challenge is not None else None
    token = read_token(token_path)
    return verify(token, load_plan(plan_path), expected_rpv, expected_challenge)


def exit_status(lines: list[ClaimLine]) -> int:
    """0 when every compared claim matches, else 1."""
    return 1 if any(line.status == MISMATCH for line in lines) else 0
