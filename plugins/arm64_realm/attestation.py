"""Arm CCA attestation tokens: decode the CBOR/COSE token a realm reads from configfs-tsm.

A CCA token (RMM specification, "Attestation token format") is CBOR tag 399 around a
map of two COSE_Sign1 messages (tag 18): the *platform* token (key 44234), signed by
the platform's attestation key, and the *realm* token (key 44241), signed by the
realm attestation key (RAK) whose public key it carries. The platform token's
challenge is the hash of that public key, which binds the two.

The CBOR is read with cbor2 (imported when a token is decoded, so that ``vmm`` starts
without it). Signatures are not checked here: that needs the platform's endorsed
key, which a verifier such as Veraison holds; what a VMM can check is that the
claims are the ones it launched (:mod:`.verify`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vmm.core.errors import VmmError

#: CBOR tags of the CCA token and of a COSE_Sign1 message.
CCA_TOKEN_TAG = 399
COSE_SIGN1_TAG = 18
#: Keys of the token map.
PLATFORM_TOKEN = 44234
REALM_TOKEN = 44241

#: Realm token claims (RMM 1.0, "Realm claims").
REALM_CHALLENGE = 10
REALM_PROFILE = 265
REALM_PERSONALIZATION_VALUE = 44235
REALM_HASH_ALGORITHM = 44236
REALM_PUBLIC_KEY = 44237
REALM_INITIAL_MEASUREMENT = 44238
REALM_EXTENSIBLE_MEASUREMENTS = 44239
REALM_PUBLIC_KEY_HASH_ALGORITHM = 44240

#: Platform token claims (the CCA platform profile) and their names in reports;
#: the challenge is the hash of the realm's public key.
PLATFORM_CHALLENGE = 10
PLATFORM_LIFECYCLE = 2395
PLATFORM_CLAIM_NAMES = {
    265: "profile",
    PLATFORM_CHALLENGE: "challenge",
    256: "instance id",
    PLATFORM_LIFECYCLE: "security lifecycle",
    2396: "implementation id",
    2399: "software components",
    2400: "verification service",
    2401: "configuration",
    2402: "hash algorithm",
}
#: Keys of a software component entry.
COMPONENT_TYPE, COMPONENT_MEASUREMENT, COMPONENT_SIGNER = 1, 2, 5
#: COSE_Key curves of EC2 keys (the realm attestation key is one).
COSE_CURVES = {1: "P-256", 2: "P-384", 3: "P-521"}
COSE_KEY_TYPE, COSE_KEY_EC2, COSE_KEY_CURVE = 1, 2, -1
#: COSE algorithm numbers of the signatures this RMM uses.
COSE_ALGORITHMS = {-7: "ES256", -35: "ES384", -36: "ES512"}
#: Hash algorithm names as tokens spell them (IANA "Named Information" names).
HASHES = {"sha-256": "sha256", "sha-384": "sha384", "sha-512": "sha512"}
#: RMM 1.0 has four Realm Extensible Measurements.
REM_COUNT = 4
#: Size of a realm challenge and of a personalisation value.
CHALLENGE_SIZE = 64


class TokenError(VmmError):
    """The bytes are not a CCA attestation token this decoder understands."""


@dataclass(frozen=True)
class SignedToken:
    """One COSE_Sign1 part of the token: its claims and how it is signed."""

    claims: dict[int, Any]
    algorithm: str
    signature: bytes


@dataclass(frozen=True)
class RealmClaims:
    """The realm token's claims, checked for type and size."""

    challenge: bytes
    personalization_value: bytes
    initial_measurement: bytes
    extensible_measurements: tuple[bytes, ...]
    hash_algorithm: str
    public_key: bytes
    public_key_hash_algorithm: str
    profile: str | None
    #: Claims this decoder has no name for, by key.
    others: dict[int, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CcaToken:
    """A decoded CCA attestation token."""

    realm: RealmClaims
    platform: dict[int, Any]
    realm_signature: str
    platform_signature: str

    @property
    def binding_holds(self) -> bool:
        """Whether the platform challenge is the hash of the realm's public key."""
        algorithm = HASHES.get(self.realm.public_key_hash_algorithm)
        if algorithm is None:
            return False
        return self.platform.get(PLATFORM_CHALLENGE) == hashlib.new(algorithm, self.realm.public_key).digest()


def read_token(path: str | Path) -> CcaToken:
    """Read and decode a token file; every problem is a one-line :class:`TokenError`."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise TokenError(f"{path}: cannot read the token: {error.strerror}") from None
    try:
        return decode_token(data)
    except TokenError as error:
        raise TokenError(f"{path}: {error}") from None


def decode_token(data: bytes) -> CcaToken:
    """Decode a CCA token (CBOR tag 399 holding the platform and realm tokens)."""
    cbor2 = _cbor2()
    outer = _loads(cbor2, data, "the token")
    if not isinstance(outer, cbor2.CBORTag) or outer.tag != CCA_TOKEN_TAG:
        raise TokenError(f"not a CCA attestation token (expected CBOR tag {CCA_TOKEN_TAG})")
    parts = outer.value
    if not isinstance(parts, Mapping) or not {PLATFORM_TOKEN, REALM_TOKEN} <= set(parts):
        raise TokenError("the CCA token lacks its platform or realm token")
    platform = _signed(cbor2, parts[PLATFORM_TOKEN], "platform token")
    realm = _signed(cbor2, parts[REALM_TOKEN], "realm token")
    return CcaToken(_realm_claims(realm.claims), platform.claims, realm.algorithm,
                    platform.algorithm)


def describe_public_key(key: bytes) -> str:
    """The realm public key: an EC2 COSE_Key's curve (what TF-RMM sends), else its size."""
    cbor2 = _cbor2()
    try:
        decoded = cbor2.loads(key)
    except (cbor2.CBORDecodeError, ValueError):
        decoded = None
    if isinstance(decoded, dict) and decoded.get(COSE_KEY_TYPE) == COSE_KEY_EC2:
        curve = decoded.get(COSE_KEY_CURVE)
        name = COSE_CURVES.get(curve) if isinstance(curve, int) else None
        return f"EC2 {name or curve} COSE_Key ({len(key)} bytes)"
    return f"{len(key)} bytes, not a COSE_Key"


def _cbor2() -> Any:
    try:
        import cbor2
    except ImportError:
        raise TokenError("reading a token needs the Python package cbor2: "
                         "pip install cbor2 (or 'vmm[attest]')") from None
    return cbor2


def _loads(cbor2: Any, data: object, what: str) -> Any:
    if not isinstance(data, bytes):
        raise TokenError(f"{what} is not a byte string")
    try:
        return cbor2.loads(data)
    except (cbor2.CBORDecodeError, ValueError) as error:
        raise TokenError(f"{what} is not valid CBOR: {error}") from None


def _signed(cbor2: Any, data: object, what: str) -> SignedToken:
    """Open one COSE_Sign1 ``[protected, unprotected, payload, signature]``."""
    message = _loads(cbor2, data, f"the {what}")
    if isinstance(message, cbor2.CBORTag) and message.tag == COSE_SIGN1_TAG:
        message = message.value
    if not (isinstance(message, (list, tuple)) and len(message) == 4):
        raise TokenError(f"the {what} is not a COSE_Sign1 message")
    protected, _unprotected, payload, signature = message
    header = _loads(cbor2, protected, f"the {what}'s protected header") if protected else {}
    claims = _loads(cbor2, payload, f"the {what}'s payload")
    if not isinstance(claims, Mapping) or not isinstance(header, Mapping):
        raise TokenError(f"the {what}'s claims are not a map")
    algorithm = header.get(1)
    known = COSE_ALGORITHMS.get(algorithm) if isinstance(algorithm, int) else None
    return SignedToken(dict(claims), known or f"COSE {algorithm}",
                       bytes(signature) if isinstance(signature, bytes) else b"")


def _realm_claims(claims: dict[int, Any]) -> RealmClaims:
    def claim(key: int, kind: type | tuple[type, ...], name: str) -> Any:
        if key not in claims:
            raise TokenError(f"the realm token has no {name} claim ({key})")
        value = claims[key]
        if not isinstance(value, kind):
            raise TokenError(f"the realm token's {name} claim ({key}) has the wrong type")
        return value

    challenge = claim(REALM_CHALLENGE, bytes, "challenge")
    rpv = claim(REALM_PERSONALIZATION_VALUE, bytes, "personalization value")
    for name, value in (("challenge", challenge), ("personalization value", rpv)):
        if len(value) != CHALLENGE_SIZE:
            raise TokenError(f"the realm {name} is {len(value)} bytes, not {CHALLENGE_SIZE}")
    rems = claim(REALM_EXTENSIBLE_MEASUREMENTS, (list, tuple), "extensible measurements")
    if len(rems) != REM_COUNT or not all(isinstance(rem, bytes) for rem in rems):
        raise TokenError(f"the realm token's extensible measurements are not {REM_COUNT} "
                         "byte strings")
    known = {REALM_CHALLENGE, REALM_PROFILE, REALM_PERSONALIZATION_VALUE, REALM_HASH_ALGORITHM,
             REALM_PUBLIC_KEY, REALM_INITIAL_MEASUREMENT, REALM_EXTENSIBLE_MEASUREMENTS,
             REALM_PUBLIC_KEY_HASH_ALGORITHM}
    profile = claims.get(REALM_PROFILE)
    return RealmClaims(
        challenge=challenge,
        personalization_value=rpv,
        initial_measurement=claim(REALM_INITIAL_MEASUREMENT, bytes, "initial measurement"),
        extensible_measurements=tuple(rems),
        hash_algorithm=claim(REALM_HASH_ALGORITHM, str, "hash algorithm"),
        public_key=claim(REALM_PUBLIC_KEY, bytes, "public key"),
        public_key_hash_algorithm=claim(REALM_PUBLIC_KEY_HASH_ALGORITHM, str,
                                        "public key hash algorithm"),
        profile=profile if isinstance(profile, str) else None,
        others={key: value for key, value in claims.items() if key not in known},
    )
