"""The typer program: core commands, then the plugins' commands (imports typer)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import typer

from vmm import __version__

if TYPE_CHECKING:
    from .run import RunOptions

#: The commands vmm itself defines: naming one skips collecting plugin commands.
CORE_COMMANDS = ("run", "plugins", "nested")


def command_name(argv: list[str]) -> str | None:
    """The command named on the command line (the first word that isn't an option:
    the program itself takes no option with a value), or None."""
    return next((word for word in argv if not word.startswith("-")), None)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vmm {__version__}")
        raise typer.Exit()


def help_markup(argv: list[str]) -> Literal["rich"] | None:
    """Rich help (one options panel per plugin) once a command is named; plain help
    for the program alone (``vmm``, ``vmm --help``), which has no panels to show and
    so skips importing rich (about 90 ms of the 150 ms budget)."""
    return "rich" if any(not word.startswith("-") for word in argv) else None


def build_app(argv: list[str], run_options: RunOptions | None = None) -> typer.Typer:
    """Build the program: core commands, then the plugins' commands.

    Plugins are asked for their commands (which imports every plugin) only when the
    command line names none of the core commands: ``vmm --help``, a plugin command,
    or a misspelling.

    :param run_options: ``vmm run``'s options, when already read for ``argv``.
    """
    from . import nested, plugins_cmd, run

    app = typer.Typer(
        name="vmm",
        help="A KVM virtual machine monitor whose every CPU architecture is a plugin.",
        rich_markup_mode=help_markup(argv),
        add_completion=False,
        no_args_is_help=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback(invoke_without_command=True)
    def main_callback(
        ctx: typer.Context,
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ) -> None:
        """A KVM virtual machine monitor whose every CPU architecture is a plugin."""
        if ctx.invoked_subcommand is None:
            typer.echo(ctx.get_help())

    command = command_name(argv)
    run.register(app, argv, with_plugin_options=command == "run", options=run_options)
    plugins_cmd.register(app, argv)
    nested.register(app, with_plugin_options=command == "nested")
    if command not in CORE_COMMANDS:
        from ..plugins import catalogue

        catalogue().hook.vmm_add_commands(app=app)
    return app
