"""Turning the fuzzer's bytes into values: a reader that never runs out (past the
end every read is zero), so every input decodes to something."""

from __future__ import annotations


class Reader:
    """Consumes ``data`` from the front."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    @property
    def left(self) -> int:
        return max(0, len(self.data) - self.at)

    def take(self, count: int) -> bytes:
        chunk = self.data[self.at : self.at + count]
        self.at += count
        return chunk

    def uint(self, size: int) -> int:
        return int.from_bytes(self.take(size).ljust(size, b"\0"), "little")

    def below(self, bound: int) -> int:
        """A value in ``range(bound)`` (``bound`` up to 2**32)."""
        return self.uint(4) % bound if bound > 1 else 0

    def flag(self) -> bool:
        return bool(self.uint(1) & 1)

    def text(self, limit: int = 64) -> str:
        """A string of up to ``limit`` bytes, any code points (NUL included)."""
        return self.take(self.below(limit + 1)).decode("utf-8", "replace")

    def rest(self) -> bytes:
        chunk = self.data[self.at :]
        self.at = len(self.data)
        return chunk
