"""Every hook is called through pluggy, so ``specname=``, ``tryfirst``, wrappers and
``--block`` work for the command-line hooks too (issue 14, item 2)."""

from __future__ import annotations

from collections.abc import Generator
from types import ModuleType

import pytest
import typer

from vmm import hookimpl
from vmm.core import plugins as plugin_discovery
from vmm.core.cli.run import RunOptions
from vmm.core.nested.hosts import find_emulated_host
from vmm.core.options import OptionGroup, collect_option_groups
from vmm.core.plugins import PluginEntry, build_manager, catalogue, discover


def _plugin(name: str, **hooks: object) -> ModuleType:
    module = ModuleType(f"third_party_{name}")
    for attribute, function in hooks.items():
        setattr(module, attribute, function)
    return module


@hookimpl(specname="vmm_addoption")
def _declare_renamed(group: OptionGroup) -> None:
    group.addoption("--renamed-opt", help="Declared under another function name.")


@hookimpl(tryfirst=True)
def _declare_first(group: OptionGroup) -> None:
    group.addoption("--first-opt", type=bool)


@hookimpl(wrapper=True)
def _wrap_addoption(group: OptionGroup) -> Generator[None, None, None]:
    yield
    if group.options:  # each plugin's call is wrapped, after the plugin declared
        group.addoption(f"--{group.name}-audited", type=bool)


PLUGINS = {
    "renamed": _plugin("renamed", declare=_declare_renamed),
    "first": _plugin("first", vmm_addoption=_declare_first),
    "auditor": _plugin("auditor", vmm_addoption=_wrap_addoption),
}


def _groups(blocked: tuple[str, ...] = ()) -> dict[str, list[str]]:
    pm = build_manager("x86", blocked=blocked, extra=PLUGINS.items())
    return {group.name: [option.flags[0] for option in group.options]
            for group in collect_option_groups(pm)}


def test_specname_tryfirst_and_wrappers_of_vmm_addoption_are_honoured() -> None:
    groups = _groups()
    assert list(groups)[0] == "first"  # tryfirst: its panel comes first
    assert groups["first"] == ["--first-opt", "--first-audited"]
    assert groups["renamed"] == ["--renamed-opt", "--renamed-audited"]
    assert "--x86-audited" in groups["x86"]  # the wrapper wraps every plugin's call
    assert "auditor" not in groups  # a wrapper alone declares nothing


def test_blocked_plugins_neither_declare_nor_wrap() -> None:
    groups = _groups(blocked=("renamed", "auditor"))
    assert "renamed" not in groups
    assert groups["first"] == ["--first-opt"]
    assert not any(flag.endswith("-audited") for flags in groups.values() for flag in flags)


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test plugins as if installed through the ``vmm`` entry points."""
    entries = discover() + [PluginEntry(name, module) for name, module in PLUGINS.items()]
    monkeypatch.setattr(plugin_discovery, "discover", lambda: list(entries))


def test_vmm_run_block_drops_an_installed_plugins_options(installed: None) -> None:
    flags = {option.flags[0] for option in RunOptions(["run", "--arch", "x86"]).options}
    assert {"--renamed-opt", "--first-opt", "--renamed-audited"} <= flags
    blocked = RunOptions(["run", "--arch", "x86", "--block", "renamed"])
    flags = {option.flags[0] for option in blocked.options}
    assert "--renamed-opt" not in flags and "--first-opt" in flags


@hookimpl(specname="vmm_add_commands", trylast=True)
def _add_renamed_command(app: typer.Typer) -> None:
    @app.command("renamed-hello")
    def hello() -> None:
        """Say hello."""


def test_plugin_commands_go_through_pluggy(monkeypatch: pytest.MonkeyPatch) -> None:
    entries = discover() + [PluginEntry("cmds", _plugin("cmds", add=_add_renamed_command))]
    monkeypatch.setattr(plugin_discovery, "discover", lambda: list(entries))
    pm = catalogue()
    callers = [pm.get_name(impl.plugin) for impl in pm.hook.vmm_add_commands.get_hookimpls()]
    assert callers[0] == "cmds"  # trylast: called after the built-in plugins' commands
    assert "arm64_realm" in callers  # from a lazy package, whatever the arch
    app = typer.Typer()
    pm.hook.vmm_add_commands(app=app)
    assert "renamed-hello" in {command.name for command in app.registered_commands}


def test_emulated_hosts_come_from_the_installed_plugins() -> None:
    for arch in ("x86", "arm64", "riscv"):
        host = find_emulated_host(arch)
        assert host is not None and host.arch == arch
    assert find_emulated_host("sparc") is None
