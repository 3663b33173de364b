"""``vmm run``: kvmtool's everyday options plus every plugin's options.

The command's signature is built at start-up: the core options below, then one help
panel per plugin from ``vmm_addoption``. The architecture is read from the command
line first (``--arch``, default the host's) so that the right plugins contribute.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any, Literal, Optional

import typer

from ..config import ARCHES, DEFAULT_MEM_MIB, Config, host_arch
from ..options import Option, OptionGroup

ArchName = Literal["x86", "arm64", "riscv"]
ConsoleName = Literal["serial", "virtio"]

CORE_PANEL = "vmm"

#: (dest, annotation, default) of the core options, in --help order.
_CORE_OPTIONS: list[tuple[str, Any, Any]] = [
    ("arch", Annotated[str, typer.Option("--arch", "-a", help=f"Guest architecture: {', '.join(ARCHES)} (default: the host's).", rich_help_panel=CORE_PANEL)], None),
    ("kernel", Annotated[Optional[str], typer.Option("--kernel", "-k", help="Kernel image (bzImage, vmlinux, Image, or a flat binary). Default: the built-in guest.", rich_help_panel=CORE_PANEL)], None),
    ("initrd", Annotated[Optional[str], typer.Option("--initrd", "-i", help="Initial ramdisk.", rich_help_panel=CORE_PANEL)], None),
    ("params", Annotated[str, typer.Option("--params", "-p", help="Kernel command line.", rich_help_panel=CORE_PANEL)], ""),
    ("mem", Annotated[int, typer.Option("--mem", "-m", help="Guest RAM in MiB.", rich_help_panel=CORE_PANEL)], DEFAULT_MEM_MIB),
    ("cpus", Annotated[int, typer.Option("--cpus", "-c", help="Number of vCPUs.", rich_help_panel=CORE_PANEL)], 1),
    ("firmware", Annotated[Optional[str], typer.Option("--firmware", "-f", help="Firmware image to boot instead of a kernel.", rich_help_panel=CORE_PANEL)], None),
    ("console", Annotated[ConsoleName, typer.Option("--console", help="Guest console: serial or virtio.", rich_help_panel=CORE_PANEL)], "serial"),
    ("dry_run", Annotated[bool, typer.Option("--dry-run", help="Build the VM against the model of KVM (any host), print the KVM call sequence, don't run.", rich_help_panel=CORE_PANEL)], False),
    ("nocompat", Annotated[bool, typer.Option("--nocompat", help="Don't print compat warnings at exit.", rich_help_panel=CORE_PANEL)], False),
    ("block", Annotated[list[str], typer.Option("--block", help="Don't load the plugin of this name (repeatable).", rich_help_panel=CORE_PANEL)], []),
    ("debug", Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug messages.", rich_help_panel=CORE_PANEL)], False),
]
_CORE_DESTS = {dest for dest, _, _ in _CORE_OPTIONS}


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


def _plugin_parameter(option: Option, panel: str) -> inspect.Parameter:
    base: Any = option.type
    if option.choices:
        base = Literal[option.choices]  # type: ignore[valid-type]
    if option.multiple:
        annotation: Any = list[base]
        default: Any = list(option.default or [])
    elif option.type is bool:
        annotation, default = bool, bool(option.default)
    else:
        annotation, default = Optional[base], option.default
    info = typer.Option(*option.flags, help=option.help, rich_help_panel=panel,
                        metavar=option.metavar)
    return inspect.Parameter(option.dest, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=Annotated[annotation, info])


def collect_option_groups(pm: Any) -> list[OptionGroup]:
    """Ask every registered plugin for its options, one group per plugin."""
    groups = []
    for name, plugin in pm.list_name_plugin():
        impl = getattr(plugin, "vmm_addoption", None)
        if impl is None:
            continue
        group = OptionGroup(name)
        impl(group=group)
        if group.options:
            groups.append(group)
    return groups


def build_config(values: dict[str, Any]) -> Config:
    """Turn parsed option values into the typed configuration."""
    plugin_options = {key: value for key, value in values.items() if key not in _CORE_DESTS}
    return Config(
        arch=values["arch"] or host_arch(),
        kernel=values["kernel"],
        initrd=values["initrd"],
        params=values["params"],
        mem_mib=values["mem"],
        cpus=values["cpus"],
        firmware=values["firmware"],
        console=values["console"],
        debug=values["debug"],
        dry_run=values["dry_run"],
        nocompat=values["nocompat"],
        plugins_blocked=list(values["block"]),
        plugin_options=plugin_options,
    )


def register(app: typer.Typer, argv: list[str], with_plugin_options: bool = True) -> None:
    """Add ``vmm run`` with the options of the plugins for the scanned arch.

    :param with_plugin_options: False when another command runs: ``vmm run`` is then
        only listed, so the plugins aren't loaded for its options.
    """
    from ..errors import ConfigError
    from ..plugins import build_manager

    arch, blocked = scan_arch(argv), scan_blocked(argv)
    groups: list[OptionGroup] = []
    pm: Any = None
    if with_plugin_options and arch in ARCHES:  # an unknown arch is reported when run
        pm = build_manager(arch, blocked=blocked)
        groups = collect_option_groups(pm)
    parameters = [
        inspect.Parameter(dest, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        for dest, annotation, default in _CORE_OPTIONS
    ]
    seen = set(_CORE_DESTS)
    for group in groups:
        for option in group.options:
            if option.dest in seen:
                raise ConfigError(f"plugin {group.name!r} redefines option {option.flags[0]}")
            seen.add(option.dest)
            parameters.append(_plugin_parameter(option, group.name))

    def run(**values: Any) -> None:
        """Boot a guest: kernel, initrd, command line, memory, vCPUs and devices."""
        from ..runner import run_config

        config = build_config(values)
        # The manager built for the options serves the run when it was built for the
        # same arch and blocked plugins (the scan can't read every spelling).
        same = pm is not None and (config.arch, config.plugins_blocked) == (arch, blocked)
        code = run_config(config, pm=pm if same else None)
        raise typer.Exit(code)

    run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    app.command("run", context_settings={"help_option_names": ["-h", "--help"]})(run)
