"""``vmm nested``: run this vmm inside an emulated KVM host of an architecture."""

from __future__ import annotations

from pathlib import Path

import typer

DEFAULT_TIMEOUT = 300.0
#: Exit status when the emulated host overran ``--timeout`` (as timeout(1)).
TIMEOUT_EXIT_STATUS = 124


def register(app: typer.Typer) -> None:
    """Add the ``nested`` command to the ``vmm`` program."""

    @app.command(
        "nested",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        help="Run 'vmm VMM_ARGS...' inside an emulated KVM host (QEMU TCG) and exit "
        "with its status. Files named in VMM_ARGS are carried into the host; disk "
        "images (-d FILE[,ro]) are attached so that writes land in FILE. Put VMM_ARGS "
        "after '--'.",
    )
    def nested(
        ctx: typer.Context,
        arch: str = typer.Option(..., "--arch", help="Architecture of the emulated host "
                                 "(x86, arm64, riscv, or any a plugin describes)."),
        timeout: float = typer.Option(DEFAULT_TIMEOUT, "--timeout", min=1,
                                      help="Seconds before QEMU is killed."),
        console_log: Path | None = typer.Option(
            None, "--console-log", help="Also write the host's whole console to this file."),
        verbose: bool = typer.Option(False, "--verbose", "-v",
                                     help="Show the QEMU command line and timings."),
        shell: bool = typer.Option(False, "--shell", help="Give VMM_ARGS to the host's "
                                   "busybox sh instead of vmm (to look around in it)."),
    ) -> None:
        from vmm.core.nested.errors import NestedTimeout
        from vmm.core.nested.run import run_nested

        try:
            result = run_nested(arch, list(ctx.args), timeout, console_log, verbose, shell)
        except NestedTimeout as error:
            typer.echo(f"vmm: error: {error}", err=True)
            raise typer.Exit(TIMEOUT_EXIT_STATUS) from None
        except KeyboardInterrupt:
            typer.echo("vmm nested: interrupted", err=True)
            raise typer.Exit(130) from None
        raise typer.Exit(result.exit_status)
