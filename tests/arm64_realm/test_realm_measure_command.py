"""``vmm realm measure``: output formats, overrides, errors and the plugin hook."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pluggy
import pytest
import typer
from realm_rim_vectors import PAGE_BYTE, PAGE_FILE, SERIES, plan_document
from typer.testing import CliRunner

import vmm.plugins.arm64
import vmm.plugins.arm64_realm
from vmm import hookspecs
from vmm.core.lazyhooks import resolve_lazy_hooks
from vmm.core.testing import skip_or_fail
from vmm.plugins.arm64_realm.cli import vmm_add_commands
from vmm.plugins.arm64_realm.rmm import MeasurementError

REPO = Path(__file__).resolve().parents[2]
V2_SHA256 = {vector_id: sha256 for vector_id, _op, sha256, _sha512 in SERIES["rel0"]}
V2_SHA512 = {vector_id: sha512 for vector_id, _op, _sha256, sha512 in SERIES["rel0"]}


@pytest.fixture
def v2_plan(tmp_path: Path) -> Path:
    """The whole rel0 V2 series as a plan file."""
    (tmp_path / PAGE_FILE).write_bytes(bytes([PAGE_BYTE]) * 4096)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan_document("rel0", "sha256", len(SERIES["rel0"]))))
    return path


def invoke(*args: str):
    """Run ``realm ARGS`` on a program holding only this plugin's commands."""
    app = typer.Typer()
    vmm_add_commands(app)
    return CliRunner().invoke(app, ["realm", *args])


def test_prints_the_rim(v2_plan: Path) -> None:
    result = invoke("measure", "--plan", str(v2_plan))
    assert (result.exit_code, result.stdout) == (0, f"RIM: {V2_SHA256['V2.5']}\n")


@pytest.mark.parametrize(("hash_name", "size"), [("sha256", 32), ("sha512", 64)])
def test_json_output(v2_plan: Path, hash_name: str, size: int) -> None:
    result = invoke("measure", "--plan", str(v2_plan), "--json", "--hash", hash_name)
    assert result.exit_code == 0
    output = json.loads(result.stdout)
    expected = (V2_SHA256 if hash_name == "sha256" else V2_SHA512)["V2.5"]
    assert output == {"rim": expected, "rim_b64": base64.b64encode(bytes.fromhex(expected)).decode()}
    assert len(base64.b64decode(output["rim_b64"])) == size


def test_hash_override(v2_plan: Path) -> None:
    result = invoke("measure", "--plan", str(v2_plan), "--hash", "sha512")
    assert result.stdout == f"RIM: {V2_SHA512['V2.5']}\n"


def test_rmm_override_revalidates_the_plan(v2_plan: Path) -> None:
    result = invoke("measure", "--plan", str(v2_plan), "--rmm", "beta0")
    assert result.exit_code == 1
    assert "op 0 (ripas): RTT_INIT_RIPAS {base, top} is not the form RMM profile beta0" in str(result.exception)


def test_bad_override_is_a_vmm_error(v2_plan: Path) -> None:
    result = invoke("measure", "--plan", str(v2_plan), "--rmm", "eac5")
    assert isinstance(result.exception, MeasurementError)


def test_plugin_adds_the_realm_commands_through_its_hook() -> None:
    # The layer needs arm64's own hookspecs (vmm_arm64_sve), as in every run.
    manager = pluggy.PluginManager(hookspecs.NAME)
    manager.add_hookspecs(hookspecs)
    manager.hook.vmm_addhooks.call_historic(kwargs={"pluginmanager": manager})
    for name, plugin in (("arm64", vmm.plugins.arm64), ("arm64_realm", vmm.plugins.arm64_realm)):
        resolve_lazy_hooks(plugin)
        manager.register(plugin, name=name)
    manager.check_pending()
    app = typer.Typer()
    manager.hook.vmm_add_commands(app=app)
    result = CliRunner().invoke(app, ["realm", "measure", "--help"])
    assert result.exit_code == 0
    for option in ("--plan", "--json", "--rmm", "--hash"):
        assert option in result.stdout


def _vmm(*args: str) -> subprocess.CompletedProcess:
    """Run the real ``vmm`` program (``python -m vmm``)."""
    if not any(point.name == "arm64_realm" for point in entry_points(group="vmm")):
        skip_or_fail("vmm is not installed (pip install -e .): the plugin's entry point is missing")
    return subprocess.run(
        [sys.executable, "-m", "vmm", *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )


def test_vmm_program_prints_the_rim(v2_plan: Path) -> None:
    completed = _vmm("realm", "measure", "--plan", str(v2_plan))
    assert (completed.returncode, completed.stdout) == (0, f"RIM: {V2_SHA256['V2.5']}\n")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "plan file not found"),
        ("{not json", "not valid JSON: Expecting property name enclosed in double quotes (line 1, column 2)"),
        ('{"realm_params": {}, "ops": [{"op": "x"}]}', "realm_params is missing 'flags'"),
        (
            json.dumps({"realm_params": plan_document("rel0", "sha256", 1)["realm_params"], "ops": [{"op": "x"}]}),
            "op 0: unknown op 'x' (expected ripas, data, rec)",
        ),
    ],
    ids=["missing-file", "bad-json", "invalid-params", "unknown-op"],
)
def test_vmm_program_reports_errors_in_one_line(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "plan.json"
    if content is not None:
        path.write_text(content)
    completed = _vmm("realm", "measure", "--plan", str(path))
    assert completed.returncode == 1
    assert completed.stdout == ""
    assert completed.stderr == f"vmm: error: {path}: {message}\n"
