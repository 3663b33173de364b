"""``vmm nested``: run this vmm inside an emulated KVM host of an architecture.

The command's own options are below; plugins add theirs (``vmm_nested_addoption``,
e.g. a variant of their architecture's host), each in its own help panel. They are
collected only when the command line names ``nested``: other commands merely list it.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import typer

DEFAULT_TIMEOUT = 300.0
#: Exit status when the emulated host overran ``--timeout`` (as timeout(1)).
TIMEOUT_EXIT_STATUS = 124


def _plugin_parameters() -> list[inspect.Parameter]:
    """The parameters of the plugins' ``vmm nested`` options, one panel per plugin."""
    from ..nested.hosts import nested_option_groups
    from ..options import typer_parameter

    return [typer_parameter(option, f"{group.name} options")
            for group in nested_option_groups() for option in group.options]


def register(app: typer.Typer, with_plugin_options: bool = False) -> None:
    """Add the ``nested`` command to the ``vmm`` program.

    :param with_plugin_options: True when the command line names ``nested``: only
        then are the plugins asked for their options (other commands merely list it).
    """

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
        share: list[Path] = typer.Option(
            [], "--share", metavar="DIR", help="Show this directory at the same path in "
            "the emulated host, read-write (9p); repeatable. Files named in VMM_ARGS that "
            "lie in it are used in place, not copied."),
        **host_options: Any,
    ) -> None:
        from vmm.core.nested.errors import NestedTimeout
        from vmm.core.nested.run import run_nested

        try:
            result = run_nested(arch, list(ctx.args), timeout, console_log, verbose, shell,
                                share, host_options)
        except NestedTimeout as error:
            typer.echo(f"vmm: error: {error}", err=True)
            raise typer.Exit(TIMEOUT_EXIT_STATUS) from None
        except KeyboardInterrupt:
            typer.echo("vmm nested: interrupted", err=True)
            raise typer.Exit(130) from None
        raise typer.Exit(result.exit_status)

    signature = inspect.signature(nested)
    own = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    nested.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*own, *(_plugin_parameters() if with_plugin_options else [])])
    app.command(
        "nested",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        help="Run 'vmm VMM_ARGS...' inside an emulated KVM host (QEMU TCG) and exit "
        "with its status. Files named in VMM_ARGS are carried into the host; disk "
        "images (-d FILE[,ro]) are attached so that writes land in FILE. Put VMM_ARGS "
        "after '--'.",
    )(nested)
