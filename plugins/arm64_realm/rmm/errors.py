"""Errors of the RMM measurement model, each reported by the CLI as one line."""

from __future__ import annotations

from vmm.core.errors import VmmError


class MeasurementError(VmmError):
    """An RMI operation that the chosen RMM profile would refuse or cannot measure."""


class PlanError(VmmError):
    """A realm plan (JSON file or recorded operations) is invalid; says where and why."""
