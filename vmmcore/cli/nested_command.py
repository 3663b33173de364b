"""Hooks the ``nested`` command in when its module is present."""

from __future__ import annotations

import typer


def register(app: typer.Typer, argv: list[str]) -> None:
    try:
        from . import nested
    except ImportError:
        return
    nested.register(app, argv)
