"""``vmm realm``: realm tools that need no VM: ``vmm realm measure`` and ``vmm realm verify``.

Imports of the measurement model stay inside the command functions: this module is
imported whenever the ``vmm`` program is built, whatever the architecture.
"""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vmm import hookimpl
from vmm.core.config import DEFAULT_MEM_MIB

if TYPE_CHECKING:  # pragma: no cover - annotations only
    from .rmm import Plan

IMAGES_PANEL = "Images and realm options (as for vmm run --arch arm64 --realm)"

realm_app = typer.Typer(
    name="realm",
    help="Arm CCA realm tools: predict a realm's initial measurement (RIM), check an "
         "attestation token against it.",
    no_args_is_help=True,
)


@hookimpl
def vmm_add_commands(app: typer.Typer) -> None:
    """Add the ``realm`` sub-app (``vmm realm measure``, ``vmm realm verify``)."""
    app.add_typer(realm_app, name="realm")


@realm_app.command("measure")
def measure_command(
    plan: Annotated[
        Path | None,
        typer.Option("--plan", help="A realm plan (JSON): realm parameters and RMI operations."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help='Print {"rim": hex, "rim_b64": base64}.')
    ] = False,
    rmm: Annotated[
        str | None,
        typer.Option("--rmm", help="RMM profile: beta0 (RFC-v1's) or rel0 (v7's); overrides "
                                   "a plan's; for images it picks the UABI it pairs with."),
    ] = None,
    realm_uabi: Annotated[
        str | None,
        typer.Option("--realm-uabi", help="Host UABI the realm is built through: rfc-v1 "
                                          "(default, RMM beta0) or v7 (RMM rel0).",
                     rich_help_panel=IMAGES_PANEL),
    ] = None,
    hash_name: Annotated[
        str | None,
        typer.Option("--hash", help="Hash algorithm, overriding the plan's: sha256 or sha512."),
    ] = None,
    kernel: Annotated[
        str | None, typer.Option("--kernel", "-k", help="Kernel Image, as for vmm run.",
                                    rich_help_panel=IMAGES_PANEL)] = None,
    initrd: Annotated[
        str | None, typer.Option("--initrd", "-i", help="Initial ramdisk.",
                                    rich_help_panel=IMAGES_PANEL)] = None,
    firmware: Annotated[
        str | None, typer.Option("--firmware", "-f", help="Firmware instead of a kernel.",
                                    rich_help_panel=IMAGES_PANEL)] = None,
    params: Annotated[
        str, typer.Option("--params", "-p", help="Kernel command line.",
                          rich_help_panel=IMAGES_PANEL)] = "",
    mem: Annotated[
        int, typer.Option("--mem", "-m", help="Guest RAM in MiB.",
                          rich_help_panel=IMAGES_PANEL)] = DEFAULT_MEM_MIB,
    cpus: Annotated[
        int, typer.Option("--cpus", "-c", help="Number of vCPUs.",
                          rich_help_panel=IMAGES_PANEL)] = 1,
    measurement_algo: Annotated[
        str | None, typer.Option("--measurement-algo", help="sha256 or sha512 (default sha256).",
                                    rich_help_panel=IMAGES_PANEL)] = None,
    realm_pv: Annotated[
        str | None, typer.Option("--realm-pv", help="Realm Personalisation Value (not measured).",
                                    rich_help_panel=IMAGES_PANEL)] = None,
    sve_vl: Annotated[
        int | None, typer.Option("--sve-vl", help="SVE vector length in bits.",
                                    rich_help_panel=IMAGES_PANEL)] = None,
    pmu: Annotated[
        bool, typer.Option("--pmu", help="Give the vCPUs a PMU.", rich_help_panel=IMAGES_PANEL)
    ] = False,
) -> None:
    """Print the Realm Initial Measurement an RMM would compute for a plan or for images.

    Give ``--plan`` (a plan JSON, e.g. from ``vmm run ... --dry-run --plan-out``), or
    the images and realm options of ``vmm run --arch arm64 --realm``: the realm is then
    built against the model of KVM exactly as that dry run builds it, through the
    UABI ``--realm-uabi`` (or ``--rmm``) names (RFC-v1 by default), so a v7 realm's
    prediction is the RIM TF-RMM v0.8.0 reports for it. A bad plan or
    image raises a ``VmmError``, which the ``vmm`` program reports as one line (exit
    status 1; ``--debug`` shows the traceback).
    """
    from vmm.core.errors import ConfigError

    from .rmm import HashAlgorithm, RmmProfile, load_plan

    if plan is not None:
        if kernel or firmware or initrd:
            raise ConfigError("give either --plan or images (-k/--firmware), not both")
        if realm_uabi is not None:
            raise ConfigError("--realm-uabi is for images; a plan's UABI is its RMM's (--rmm)")
        loaded = load_plan(plan).with_overrides(
            rmm=RmmProfile.from_label(rmm) if rmm is not None else None,
            hash=HashAlgorithm.from_label(hash_name) if hash_name is not None else None,
        )
    else:
        if not (kernel or firmware):
            raise ConfigError("give a plan (--plan FILE) or the images to measure (-k Image)")
        if hash_name is not None:
            raise ConfigError("--hash overrides a plan's hash; for images use --measurement-algo")
        from .measure_run import dry_run_plan, realm_run_config

        loaded = dry_run_plan(realm_run_config(
            kernel=kernel, initrd=initrd, firmware=firmware, params=params, mem_mib=mem,
            cpus=cpus, realm_options={"measurement_algo": measurement_algo,
                                      "realm_pv": realm_pv, "sve_vl": sve_vl, "rmm": rmm,
                                      "realm_uabi": realm_uabi},
            arm64_options={"pmu": pmu or None},
        ))
    typer.echo(render_measurement(loaded, as_json=as_json))


def render_measurement(plan: "Plan", *, as_json: bool) -> str:
    """Measure ``plan`` and render the RIM as ``vmm realm measure`` prints it.

    Used for plan files and for the plan a dry run of images recorded
    (:mod:`.measure_run`), so both print alike.
    """
    import base64
    import json

    from .rmm import measure

    rim = measure(plan)
    if as_json:
        return json.dumps({"rim": rim.hex(), "rim_b64": base64.b64encode(rim).decode("ascii")})
    return f"RIM: {rim.hex()}"


@realm_app.command("verify")
def verify_command(
    token: Annotated[Path, typer.Option("--token", help="The CCA attestation token (CBOR) "
                                        "the realm read from configfs-tsm's outblob.")],
    plan: Annotated[Path, typer.Option("--plan", help="The realm's plan (JSON), e.g. from "
                                       "vmm run ... --dry-run --plan-out.")],
    realm_pv: Annotated[
        str | None, typer.Option("--realm-pv", help="The --realm-pv the realm was launched "
                                    "with (default: none, an all-zero value).")] = None,
    challenge: Annotated[
        str | None, typer.Option("--challenge", metavar="HEX",
                                    help="The 64-byte challenge written to inblob, in hex.")] = None,
) -> None:
    """Check a realm's attestation token against vmm's prediction, one line per claim.

    The initial measurement must equal the plan's RIM (in the token's hash algorithm),
    the personalisation value ``--realm-pv``, the challenge ``--challenge`` when given,
    and the platform token must be bound to the realm's key; other claims are shown.
    Exit status 0 when all of these match, 1 otherwise (or for a bad token or plan).
    """
    from .verify import exit_status, verify_files

    lines = verify_files(token, plan, realm_pv, challenge)
    for line in lines:
        typer.echo(line.render())
    raise typer.Exit(exit_status(lines))
