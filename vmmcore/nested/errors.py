"""Errors of ``vmm nested``; each is reported as one line (exit 1)."""

from __future__ import annotations

from vmm.core.errors import VmmError


class NestedError(VmmError):
    """Root of the errors ``vmm nested`` reports."""


class MissingToolError(NestedError):
    """A program the build needs is not installed on this machine."""

    def __init__(self, tool: str, package: str) -> None:
        self.tool = tool
        self.package = package
        super().__init__(
            f"{tool} is not installed: run 'apt-get install {package}' "
            "(or scripts/install-test-deps)"
        )


class PackageError(NestedError):
    """A Debian package or a wheel could not be found or downloaded."""


class HostBootError(NestedError):
    """The emulated host stopped without reporting the inner vmm's exit status."""


class NestedTimeout(NestedError):
    """The emulated host ran longer than ``--timeout``."""
