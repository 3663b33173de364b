"""``vmm run --realm --dry-run`` predicts the RIM; ``vmm realm measure`` agrees, from the
images and from the plan the dry run wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from realm_vm import write_images
from typer.testing import CliRunner

from vmm.core.config import Config
from vmm.core.errors import ConfigError
from vmm.core.runner import run_config
from vmm.plugins.arm64_realm import memory_lock
from vmm.plugins.arm64_realm.cli import vmm_add_commands
from vmm.plugins.arm64_realm.rmm import load_plan

RIM_LINE = "Realm initial measurement (RIM, "


def dry_run(capsys, kernel: str, initrd: str, **options) -> str:
    """``vmm run --arch arm64 --realm -c 2 --dry-run ...``: its printed report."""
    config = Config(arch="arm64", kernel=kernel, initrd=initrd, cpus=2, mem_mib=256,
                    params="console=ttyS0", dry_run=True,
                    given_options={"arm64_realm": {"realm": True, **options}})
    assert run_config(config) == 0
    return capsys.readouterr().out


def reported_rim(report: str) -> str:
    line = next(line for line in report.splitlines() if line.startswith(RIM_LINE))
    return line.rsplit(" ", 1)[1]


def measure(*args: str) -> str:
    app = typer.Typer()
    vmm_add_commands(app)
    result = CliRunner().invoke(app, ["realm", "measure", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("rmm", ["beta0", "rel0"])
def test_measure_with_images_equals_the_dry_run_and_its_plan(capsys, tmp_path: Path, rmm: str) -> None:
    kernel, initrd = write_images(tmp_path)
    plan = tmp_path / "realm-plan.json"
    options = {"realm_pv": "X", "measurement_algo": "sha512", "rmm": rmm}
    report = dry_run(capsys, kernel, initrd, plan_out=str(plan), **options)
    rim = reported_rim(report)
    assert len(rim) == 128
    assert f"RIM, sha512, RMM {rmm}" in report
    assert f"Realm plan written to {plan}" in report
    assert "KVM call sequence (model backend):" in report
    from_images = measure("-k", kernel, "-i", initrd, "-p", "console=ttyS0", "-m", "256",
                          "-c", "2", "--realm-pv", "X", "--measurement-algo", "sha512",
                          "--rmm", rmm)
    from_plan = measure("--plan", str(plan))
    assert from_images == from_plan == f"RIM: {rim}\n"
    assert load_plan(plan).rmm.label == rmm


def test_json_output_from_images(tmp_path: Path) -> None:
    kernel, initrd = write_images(tmp_path)
    output = json.loads(measure("-k", kernel, "-i", initrd, "--json"))
    assert len(bytes.fromhex(output["rim"])) == 32


def test_the_measurement_depends_on_what_is_measured(tmp_path: Path) -> None:
    kernel, initrd = write_images(tmp_path)
    base = measure("-k", kernel, "-i", initrd)
    assert measure("-k", kernel, "-i", initrd, "--realm-pv", "other") == base  # RPV: not measured
    assert measure("-k", kernel, "-i", initrd, "-p", "quiet") != base  # the DTB is
    assert measure("-k", kernel, "-i", initrd, "-c", "2") != base  # one more REC
    assert measure("-k", kernel) != base


def test_measure_refuses_a_bad_request(tmp_path: Path) -> None:
    kernel, _ = write_images(tmp_path)
    app = typer.Typer()
    vmm_add_commands(app)
    for args, message in [
        ([], "give a plan (--plan FILE) or the images to measure (-k Image)"),
        (["-k", kernel, "--plan", "p.json"], "give either --plan or images"),
        (["-k", kernel, "--measurement-algo", "md5"], "unknown realm measurement algorithm 'md5'"),
        (["-k", kernel, "--hash", "sha512"], "for images use --measurement-algo"),
    ]:
        result = CliRunner().invoke(app, ["realm", "measure", *args])
        assert isinstance(result.exception, ConfigError), result.output
        assert message in str(result.exception)


def test_a_dry_run_locks_no_ram_and_says_so(capsys, tmp_path, monkeypatch) -> None:
    """A dry run touches nothing on the host: realm RAM is not locked (nor the
    memlock limit raised), and the report says a real run would lock it."""
    def refuse(*args) -> None:
        raise AssertionError("a dry run locked memory")

    monkeypatch.setattr(memory_lock, "lock_on_fault", refuse)
    monkeypatch.setattr(memory_lock, "raise_memlock_limit", refuse)
    kernel, initrd = write_images(tmp_path)
    report = dry_run(capsys, kernel, initrd)
    assert "Realm RAM not locked: a dry run locks no host memory" in report
    assert reported_rim(report)
