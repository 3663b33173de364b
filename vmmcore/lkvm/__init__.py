"""``vmm-lkvm``: kvmtool's ``lkvm`` command line, run by vmm.

Scripts written for kvmtool (kvm-unit-tests' ``--target=kvmtool`` runner among
them) call ``lkvm run ...``, probe ``lkvm --help`` for "The most commonly used"
and expect ``Fatal: Unable to open kernel X`` for a missing kernel. This command
speaks that dialect: :mod:`.translate` turns ``lkvm run``'s words into ``vmm run``'s
and the run goes through vmm's one run path (:class:`vmm.core.cli.run.RunOptions`).

Exit statuses are kvmtool's: the guest's (0 when it powers off) for a run; 129 for
a command line kvmtool's parser refuses (and for an option vmm can't honour); 128
for a fatal error (kvmtool's ``die``: a kernel that can't be opened, any error vmm
reports); 22 (EINVAL) for ``lkvm --help`` or an unknown command, which kvmtool
answers with its help; 130 on Ctrl-C.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterable
from typing import TYPE_CHECKING

from vmm import __version__

from .dialect import COMMANDS, FLAG, OPTIONS, Missing

if TYPE_CHECKING:
    from ..options import Option

EXIT_FATAL = 128
EXIT_USAGE = 129
EXIT_EINVAL = 22
PROGRAM = "vmm-lkvm"


def print_help() -> None:
    """kvmtool's top-level help: the usage line and the command list."""
    width = max(len(name) for name, _ in COMMANDS)
    lines = ["", f" To boot vmm's built-in guest run '{PROGRAM} run'", "",
             f"usage: {PROGRAM} COMMAND [ARGS]", "",
             " The most commonly used lkvm commands are:"]
    lines += [f"   {name:<{width}}   {text}" for name, text in COMMANDS]
    lines += ["", f" See '{PROGRAM} help COMMAND' for more information on a specific command.",
              ""]
    print("\n".join(lines))


def run_usage() -> str:
    """``lkvm run``'s usage: every kvmtool option, those vmm lacks marked."""
    lines = [f"  usage: {PROGRAM} run [<options>] [<kernel image>]", ""]
    for option in OPTIONS:
        spelling = f"-{option.short}, " if option.short else "    "
        spelling += f"--{option.long}"
        if option.kind != FLAG:
            spelling += f" <{option.metavar or 'value'}>"
        note = " (not in vmm)" if isinstance(option.vmm, Missing) else ""
        arch = f" [{option.arch}]" if option.arch else ""
        lines.append(f"    {spelling:<40} {option.help}{arch}{note}")
    return "\n".join(lines) + "\n"


def _say(kind: str, message: str) -> None:
    """kvmtool's message format on stderr: `` Fatal: ...``, `` Error: ...``."""
    print(f"  {kind}: {message}", file=sys.stderr)


def run(words: list[str], debug: bool) -> int:
    """``lkvm run WORDS`` through vmm's run path; returns the exit status."""
    from ..cli.quickargs import parse_options
    from ..cli.run import RunOptions
    from ..errors import UnusableFileError, VmmError
    from .translate import HelpRequested, LkvmUsageError, parse_run_words, vmm_words

    try:
        given = parse_run_words(words)
        options = RunOptions(["run"])
        flags = {flag for option in options.options for flag in option.flags}
        translated = vmm_words(given, flags)
        values = parse_options(translated, options.options)
        if values is None:  # a value vmm's options refuse (a choice, a number)
            raise LkvmUsageError(refused_value(translated, options.options))
        return options.run(values)
    except LkvmUsageError as error:
        if not isinstance(error, HelpRequested):
            _say("Error", str(error))
        print(run_usage(), file=sys.stderr, end="")
        return EXIT_USAGE
    except UnusableFileError as error:
        _report(f"Unable to open {error.what} {error.path}", error, debug)
        return EXIT_FATAL
    except VmmError as error:
        _report(str(error), error, debug)
        return EXIT_FATAL
    except KeyboardInterrupt:
        return 130


def refused_value(words: list[str], options: Iterable[Option]) -> str:
    """Name the first ``--flag=value`` of ``words`` that vmm's option refuses."""
    from ..cli.quickargs import INVALID, convert_value

    by_flag = {flag: option for option in options for flag in option.flags}
    for word in words:
        flag, _, value = word.partition("=")
        option = by_flag.get(flag)
        if option is not None and value and convert_value(option, value) is INVALID:
            offered = f" (vmm offers {', '.join(option.choices)})" if option.choices else ""
            return f"option `{flag[2:]}': vmm can't use {value!r}{offered}"
    return "vmm refuses this command line: vmm run " + " ".join(words)


def _report(message: str, error: BaseException, debug: bool) -> None:
    if debug:
        traceback.print_exception(error)
    _say("Fatal", message)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point of ``vmm-lkvm``."""
    if argv is None:
        from ..sandbox import declare_program

        declare_program()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get("VMM_DEBUG") == "1"
    command, words = (argv[0], argv[1:]) if argv else ("help", [])
    if command == "run":
        sys.exit(run(words, debug))
    if command in ("version", "--version"):
        print(f"kvm tool vmm-{__version__}")
        sys.exit(0)
    if command == "help":
        if words[:1] == ["run"]:
            print(run_usage(), end="")
        else:
            print_help()
        sys.exit(0)
    if command in dict(COMMANDS):
        _say("Fatal", f"'{command}' acts on running guests or rootfs trees, which vmm "
                      "doesn't keep; only run, version and help are available")
        sys.exit(EXIT_FATAL)
    print_help()  # kvmtool answers anything else (--help too) with its help
    sys.exit(EXIT_EINVAL)
