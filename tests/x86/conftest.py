"""Shared helpers for the x86 tests: building the project's guests and running
``vmm run`` as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vmm.plugins.x86.guest import FLAT16_SCRIPT, build_guest

GUESTS = Path(__file__).parent / "guests"
#: Guests that are ELF64 images, with their linker scripts.
ELF_GUESTS = {"long64": "long64.ld", "pvh32": "pvh32.ld", "emufail64": "emufail64.ld"}


def guest_source(name: str) -> Path:
    return GUESTS / f"{name}.S"


@pytest.fixture(scope="session")
def guest_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("x86-guests")


@pytest.fixture(scope="session")
def build(guest_dir):
    """``build(name) -> Path``: assemble and link a guest of tests/x86/guests once."""
    built: dict[str, Path] = {}

    def builder(name: str) -> Path:
        if name not in built:
            if name in ELF_GUESTS:
                built[name] = build_guest(guest_source(name), GUESTS / ELF_GUESTS[name],
                                          guest_dir / f"{name}.elf", bits=64)
            else:
                built[name] = build_guest(guest_source(name), FLAT16_SCRIPT,
                                          guest_dir / f"{name}.bin")
        return built[name]

    return builder


def run_vmm(*args: str, input: bytes | None = None, timeout: float = 60,
            env: dict[str, str] | None = None, cwd: str | None = None) -> subprocess.CompletedProcess:
    """``python -m vmm run ARGS`` with stdin from ``input`` (else /dev/null)."""
    command = [sys.executable, "-m", "vmm", "run", *args]
    return subprocess.run(
        command,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """Exit status 1, exactly one line on stderr, no traceback; return the line."""
    stderr = result.stderr.decode()
    assert result.returncode == 1, (result.returncode, stderr)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("vmm: error: "), stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]
