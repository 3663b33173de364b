"""``vmm plugins``: the plugins loaded for an architecture and the hooks each implements."""

from __future__ import annotations

import typer


def register(app: typer.Typer, argv: list[str]) -> None:
    @app.command("plugins")
    def plugins(
        arch: str | None = typer.Option(None, "--arch", "-a", help="Architecture (default: the host's)."),
        block: list[str] = typer.Option([], "--block", help="Don't load this plugin (repeatable)."),
    ) -> None:
        """List the loaded plugins, in calling order, with the hooks each implements."""
        from ..plugins import build_manager, host_arch, implemented_hooks

        pm = build_manager(arch or host_arch(), blocked=block)
        for name, plugin in reversed(pm.list_name_plugin()):
            if plugin is None:  # blocked with --block
                typer.echo(f"{name} (blocked)")
                continue
            module = getattr(plugin, "__name__", type(plugin).__name__)
            typer.echo(f"{name} ({module})")
            for hook in implemented_hooks(pm, plugin):
                typer.echo(f"    {hook}")
