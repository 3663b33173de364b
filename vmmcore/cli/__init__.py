"""The ``vmm`` command: one module per command, plugins add their own.

Errors a user can cause (:class:`VmmError`) are printed as one line and exit 1;
``--debug`` anywhere on the command line shows the traceback instead. A malformed
command line exits 2: with typer's usage panel, or one line for what typer can't
see (:class:`UsageError`: an unknown ``--arch`` or ``--block`` name).

The typer program is built in :mod:`.app`, imported only when needed: a ``vmm run``
whose options are plain runs without typer (:func:`.run.run_without_typer`).
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

def build_app(argv: list[str], run_options: Any = None) -> typer.Typer:
    """The typer program for ``argv`` (see :func:`.app.build_app`)."""
    from .app import build_app as build

    return build(argv, run_options)


def report_error(error: BaseException, debug: bool) -> None:
    if debug:
        traceback.print_exception(error)
    else:
        print(f"vmm: error: {error}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    from ..errors import UsageError, VmmError

    if argv is None:  # the vmm program itself, not a caller embedding vmm
        from ..sandbox import declare_program

        declare_program()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("VMM_DEBUG") == "1"
    try:
        run_options = None
        if argv[:1] == ["run"]:
            from .run import run_without_typer

            code, run_options = run_without_typer(argv)
            if code is not None:
                sys.exit(code)
        app = build_app(argv, run_options)
        app(args=argv, prog_name="vmm", standalone_mode=True)
    except UsageError as error:  # a malformed command line, as typer's usage errors
        report_error(error, debug)
        sys.exit(2)
    except VmmError as error:
        report_error(error, debug)
        sys.exit(1)
