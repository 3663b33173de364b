"""``vmm run``: kvmtool's everyday options plus every plugin's options.

The command's signature is built at start-up: the core options below, then one help
panel per plugin from ``vmm_addoption``. The architecture is read from the command
line first (``--arch``, default the host's) so that the right plugins contribute.

The core's options are declared like a plugin's (an :class:`OptionGroup`), so one
table serves typer's command (:func:`register`) and the typer-free reading of plain
command lines (:func:`run_without_typer`); this module imports typer only for the
former.
"""

from __future__ import annotations

import errno
import inspect
import os
from typing import TYPE_CHECKING, Any

from ..config import DEFAULT_MEM_MIB, LOGLEVELS, Config
from ..options import Option, OptionGroup, collect_option_groups, typer_parameter
from ..plugins import host_arch, known_arches

if TYPE_CHECKING:
    import typer

CORE_PANEL = "vmm"


def core_options(arches: tuple[str, ...] = ()) -> OptionGroup:
    """The core's options of ``vmm run``, in --help order.

    :param arches: the installed arch plugins' architectures, for ``--arch``'s help.
    """
    group = OptionGroup(CORE_PANEL)
    add = group.addoption
    add("--arch", "-a", help=f"Guest architecture: {', '.join(arches)} (default: the host's).")
    add("--kernel", "-k", help="Kernel image (bzImage, vmlinux, Image, or a flat binary). "
        "Default: the built-in guest.")
    add("--initrd", "-i", help="Initial ramdisk.")
    add("--params", "-p", default="", help="Kernel command line.")
    add("--mem", "-m", type=int, default=DEFAULT_MEM_MIB, help="Guest RAM in MiB.")
    add("--cpus", "-c", type=int, default=1, help="Number of vCPUs.")
    add("--firmware", "-f", help="Firmware image to boot instead of a kernel.")
    add("--hugetlbfs", metavar="PATH", help="Map guest RAM from huge pages in this hugetlbfs "
        "directory.")
    add("--console", choices=("serial", "virtio"), default="serial",
        help="Guest console: serial or virtio.")
    add("--dry-run", type=bool, help="Build the VM against the model of KVM (any host), "
        "print the KVM call sequence, don't run; nothing on the host is changed (disks "
        "read-only, no TAP, no locked memory).")
    add("--nocompat", type=bool, help="Don't print compat warnings at exit.")
    add("--sandbox", type=bool, help="Require the sandbox: no capabilities, no_new_privs "
        "and a seccomp filter while the guest runs (default: on where it works).")
    add("--no-sandbox", type=bool, help="Run the guest without the sandbox.")
    add("--block", multiple=True, help="Don't load the plugin of this name (repeatable).")
    add("--debug", type=bool, help="Show tracebacks and debug messages.")
    add("--loglevel", choices=LOGLEVELS, default="warning", metavar="|".join(LOGLEVELS),
        help="Which of vmm's messages to print (kvmtool's levels; --debug implies debug).")
    add("--nodefaults", type=bool, help="Accepted for kvmtool's command lines: vmm adds "
        "no implicit devices and passes -p/--params to the guest unchanged anyway.")
    return group


_CORE_DESTS = frozenset(option.dest for option in core_options().options)


def scan_arch(argv: list[str]) -> str:
    """The ``--arch`` value on the command line, or the host's architecture."""
    for index, word in enumerate(argv):
        if word in ("--arch", "-a") and index + 1 < len(argv):
            return argv[index + 1]
        if word.startswith("--arch="):
            return word.split("=", 1)[1]
    return host_arch()


def scan_blocked(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, word in enumerate(argv[:-1]) if word == "--block"]


def sandbox_choice(values: dict[str, Any]) -> bool | None:
    """``--sandbox`` True, ``--no-sandbox`` False, neither None (on where it works)."""
    from ..errors import ConfigError

    if values["sandbox"] and values["no_sandbox"]:
        raise ConfigError("give --sandbox or --no-sandbox, not both")
    if values["sandbox"]:
        return True
    return False if values["no_sandbox"] else None


def build_config(values: dict[str, Any], groups: list[OptionGroup]) -> Config:
    """Turn parsed option values into the typed configuration.

    :param groups: the plugins' option groups the values were parsed with; a plugin
        option left at its default isn't kept as given (the run's plugins, which may
        differ when the scan misread ``--arch``, supply their own defaults).
    :raises UsageError: for an ``--arch`` no installed plugin provides ("" too: it
        never means the host's).
    """
    from ..errors import UsageError

    arch = host_arch() if values["arch"] is None else values["arch"]
    arches = known_arches()
    if arch not in arches:
        raise UsageError(f"unknown architecture {arch!r}: choose one of {', '.join(arches)}")
    given: dict[str, dict[str, Any]] = {}
    for group in groups:
        for option in group.options:
            value = values[option.dest]
            if value != option.default and not (option.multiple and not value):
                given.setdefault(group.name, {})[option.dest] = value
    return Config(
        arch=arch,
        kernel=values["kernel"],
        initrd=values["initrd"],
        params=values["params"],
        mem_mib=values["mem"],
        cpus=values["cpus"],
        firmware=values["firmware"],
        hugetlbfs=values["hugetlbfs"],
        console=values["console"],
        debug=values["debug"],
        loglevel=values["loglevel"],
        dry_run=values["dry_run"],
        nocompat=values["nocompat"],
        sandbox=sandbox_choice(values),
        plugins_blocked=list(values["block"]),
        given_options=given,
    )


class RunOptions:
    """``vmm run``'s options for a command line: the core's, then those of the plugins
    for the arch and blocked plugins scanned from it, with the manager that asked
    them (which then serves the run when the parsed arch and blocks match).

    :param with_plugin_options: False when another command runs: ``vmm run`` is then
        only listed, so the plugins aren't loaded for its options.
    """

    def __init__(self, argv: list[str], with_plugin_options: bool = True) -> None:
        from ..errors import ConfigError
        from ..plugins import build_manager

        self.arch, self.blocked = scan_arch(argv), scan_blocked(argv)
        self.pm: Any = None
        arches = known_arches()
        self.groups = [core_options(arches)]
        if with_plugin_options and self.arch in arches:  # an unknown arch is reported when run
            self.pm = build_manager(self.arch, blocked=self.blocked)
            self.groups += collect_option_groups(self.pm, self.arch)
        seen = set(_CORE_DESTS)
        for group in self.groups[1:]:
            for option in group.options:
                if option.dest in seen:
                    raise ConfigError(f"plugin {group.name!r} redefines option {option.flags[0]}")
                seen.add(option.dest)

    @property
    def options(self) -> list[Option]:
        return [option for group in self.groups for option in group.options]

    def run(self, values: dict[str, Any]) -> int:
        """Boot a guest with the parsed option ``values``; return its exit code."""
        from ..runner import run_config

        config = build_config(values, self.groups[1:])
        # The manager built for the options serves the run when it was built for the
        # same arch and blocked plugins (the scan can't read every spelling).
        same = self.pm is not None and (config.arch, config.plugins_blocked) == (
            self.arch, self.blocked)
        if same:
            config.bind_options(self.groups[1:])
        return run_config(config, pm=self.pm if same else None)


def run_without_typer(argv: list[str]) -> tuple[int | None, RunOptions]:
    """Run ``vmm run`` when its options need no typer (see :mod:`.quickargs`).

    :returns: the exit code, or None when typer must parse the command line, and the
        options read for it (for :func:`register` to reuse).
    """
    from .quickargs import parse_options

    options = RunOptions(argv)
    values = parse_options(argv[1:], options.options)
    if values is None:
        return None, options
    # What typer's standalone mode does around a command: Ctrl-C before the VM's own
    # handler is 130, a closed stdout is a quiet exit 1.
    try:
        return options.run(values), options
    except KeyboardInterrupt:
        return 130, options
    except OSError as error:
        if error.errno != errno.EPIPE:
            raise
        quiet = os.open(os.devnull, os.O_WRONLY)
        for fd in (1, 2):
            os.dup2(quiet, fd)
        return 1, options


def register(app: typer.Typer, argv: list[str], with_plugin_options: bool = True,
             options: RunOptions | None = None) -> None:
    """Add ``vmm run`` with the options of the plugins for the scanned arch.

    :param with_plugin_options: see :class:`RunOptions`.
    :param options: the options already read for this command line.
    """
    import typer

    if options is None:
        options = RunOptions(argv, with_plugin_options)
    parameters = [typer_parameter(option, group.name)
                  for group in options.groups for option in group.options]

    def run(**values: Any) -> None:
        """Boot a guest: kernel, initrd, command line, memory, vCPUs and devices."""
        raise typer.Exit(options.run(values))

    run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    app.command("run", context_settings={"help_option_names": ["-h", "--help"]})(run)
