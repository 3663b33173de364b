"""Hash algorithms a realm is measured with, and the RMM's 64-byte measurement buffers.

The RMM keeps every measurement in a 64-byte slot (the SHA-512 digest size). A
SHA-256 digest fills the first 32 bytes and the rest stays zero; descriptors embed
the whole zero-padded slot.
"""

from __future__ import annotations

import enum
import hashlib

from .errors import MeasurementError

#: Size of every RMM measurement slot: the largest digest (SHA-512).
MEASUREMENT_BUFFER_SIZE = 64


class HashAlgorithm(enum.IntEnum):
    """A realm measurement algorithm; its value is the RMI encoding (``RMI_HASH_*``)."""

    SHA256 = 0
    SHA512 = 1

    @property
    def label(self) -> str:
        """The name used on the command line and in plans: ``sha256`` or ``sha512``."""
        return self.name.lower()

    @property
    def digest_size(self) -> int:
        """Number of bytes of one digest."""
        return hashlib.new(self.label).digest_size

    def digest(self, data: bytes) -> bytes:
        """Hash ``data`` with this algorithm."""
        return hashlib.new(self.label, data).digest()

    def padded_digest(self, data: bytes) -> bytes:
        """Hash ``data`` and zero-pad the digest to a 64-byte measurement buffer."""
        return pad_measurement(self.digest(data))

    @classmethod
    def from_label(cls, label: str) -> HashAlgorithm:
        """Parse ``sha256``/``sha512`` (exact, lower case, as kvmtool does)."""
        for algorithm in cls:
            if algorithm.label == label:
                return algorithm
        expected = " or ".join(algorithm.label for algorithm in cls)
        raise MeasurementError(f"hash {label!r} is not supported (expected {expected})")


def pad_measurement(digest: bytes) -> bytes:
    """Zero-pad a digest to the RMM's 64-byte measurement buffer."""
    if len(digest) > MEASUREMENT_BUFFER_SIZE:
        raise ValueError(f"a {len(digest)}-byte digest does not fit a measurement buffer")
    return digest.ljust(MEASUREMENT_BUFFER_SIZE, b"\0")
