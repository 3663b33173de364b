"""Every worked RIM vector, through the plan API and through ``vmm realm measure``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from realm_rim_vectors import PAGE_BYTE, PAGE_FILE, SERIES, plan_document, vector_cases, vector_ids
from typer.testing import CliRunner

from vmm.plugins.arm64_realm.cli import vmm_add_commands
from vmm.plugins.arm64_realm.rmm import HashAlgorithm, load_plan, measure, measure_steps, parse_plan


@pytest.fixture
def plan_dir(tmp_path: Path) -> Path:
    """A directory holding the 0xAA page the vectors measure."""
    (tmp_path / PAGE_FILE).write_bytes(bytes([PAGE_BYTE]) * 4096)
    return tmp_path


def write_plan(directory: Path, document: dict) -> Path:
    """Write a plan document as JSON and return its path."""
    path = directory / "plan.json"
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize(("profile", "hash_name", "steps", "expected"), vector_cases(), ids=vector_ids())
def test_vector_through_plan_api(plan_dir: Path, profile: str, hash_name: str, steps: int, expected: str) -> None:
    plan = parse_plan(plan_document(profile, hash_name, steps), base_dir=plan_dir)
    rim = measure(plan)
    assert rim.hex() == expected
    assert len(rim) == HashAlgorithm.from_label(hash_name).digest_size


@pytest.mark.parametrize(("profile", "hash_name", "steps", "expected"), vector_cases(), ids=vector_ids())
def test_vector_through_measure_command(
    plan_dir: Path, profile: str, hash_name: str, steps: int, expected: str
) -> None:
    app = typer.Typer()
    vmm_add_commands(app)
    path = write_plan(plan_dir, plan_document(profile, hash_name, steps))
    result = CliRunner().invoke(app, ["realm", "measure", "--plan", str(path)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"RIM: {expected}\n"


@pytest.mark.parametrize("profile", sorted(SERIES))
@pytest.mark.parametrize("hash_name", ["sha256", "sha512"])
def test_measure_steps_gives_every_cumulative_vector(plan_dir: Path, profile: str, hash_name: str) -> None:
    series = SERIES[profile]
    plan = load_plan(write_plan(plan_dir, plan_document(profile, hash_name, len(series))))
    column = 2 if hash_name == "sha256" else 3
    # The first vector is REALM_CREATE alone: measure_steps starts after the first op.
    expected = [row[column] for row in series[1:]]
    assert [rim.hex() for rim in measure_steps(plan)] == expected
