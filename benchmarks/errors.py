"""The one error the benchmark suite reports as a line (exit 1, no traceback)."""

from __future__ import annotations


class BenchError(Exception):
    """Something the suite needs is missing or misbehaved; the message says what."""
