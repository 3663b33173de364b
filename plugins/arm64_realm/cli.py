"""``vmm realm``: realm tools that need no VM, starting with ``vmm realm measure``.

Imports of the measurement model stay inside the command functions: this module is
imported whenever the ``vmm`` program is built, whatever the architecture.
"""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from vmmcore import hookimpl

if TYPE_CHECKING:  # pragma: no cover - annotations only
    from .rmm import Plan

realm_app = typer.Typer(
    name="realm",
    help="Arm CCA realm tools: predict a realm's initial measurement (RIM).",
    no_args_is_help=True,
)


@hookimpl
def vmm_add_commands(app: typer.Typer) -> None:
    """Add the ``realm`` sub-app (``vmm realm measure``)."""
    app.add_typer(realm_app, name="realm")


@realm_app.command("measure")
def measure_command(
    plan: Annotated[
        Path,
        typer.Option("--plan", help="A realm plan (JSON): realm parameters and RMI operations."),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help='Print {"rim": hex, "rim_b64": base64}.')
    ] = False,
    rmm: Annotated[
        Optional[str],
        typer.Option("--rmm", help="RMM profile, overriding the plan's: beta0, rel0 or 2.0."),
    ] = None,
    hash_name: Annotated[
        Optional[str],
        typer.Option("--hash", help="Hash algorithm, overriding the plan's: sha256 or sha512."),
    ] = None,
) -> None:
    """Print the Realm Initial Measurement an RMM would compute for a plan.

    A bad plan raises a ``VmmError``, which the ``vmm`` program reports as one line
    (exit status 1; ``--debug`` shows the traceback).
    """
    from .rmm import HashAlgorithm, RmmProfile, load_plan

    loaded = load_plan(plan).with_overrides(
        rmm=RmmProfile.from_label(rmm) if rmm is not None else None,
        hash=HashAlgorithm.from_label(hash_name) if hash_name is not None else None,
    )
    typer.echo(render_measurement(loaded, as_json=as_json))


def render_measurement(plan: "Plan", *, as_json: bool) -> str:
    """Measure ``plan`` and render the RIM as ``vmm realm measure`` prints it.

    The seam for other plan sources: ``vmm realm measure`` given ``vmm run``'s realm
    options and images will build its plan by recording the dry-run KVM model
    (:class:`~plugins.arm64_realm.rmm.PlanRecorder`) and call this with it.
    """
    import base64
    import json

    from .rmm import measure

    rim = measure(plan)
    if as_json:
        return json.dumps({"rim": rim.hex(), "rim_b64": base64.b64encode(rim).decode("ascii")})
    return f"RIM: {rim.hex()}"
