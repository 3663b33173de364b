"""Start-up imports only what the command needs: lazy plugin hooks, no plugin
catalogue for core commands, entry points read once."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import pytest

from vmm.core import plugins as plugin_discovery
from vmm.core.cli.app import command_name
from vmm.core.lazyhooks import lazy_hooks
from vmm.core.testing.images import x86_bzimage

#: Prints the vmm modules imported after building the program for argv.
_PROBE = """
import json, sys
from vmm.core.cli import build_app
build_app({argv!r})
print(json.dumps(sorted(m for m in sys.modules if m.startswith("vmm."))))
"""


def _modules_after_build(argv: list[str]) -> set[str]:
    result = subprocess.run([sys.executable, "-c", _PROBE.format(argv=argv)],
                            capture_output=True, text=True, check=True)
    return set(json.loads(result.stdout))


def test_run_on_x86_imports_no_other_arch_hook_module() -> None:
    modules = _modules_after_build(["run", "--arch", "x86", "--help"])
    assert "vmm.plugins.x86.vcpu" in modules
    assert {"vmm.plugins.arm64", "vmm.plugins.arm64_realm", "vmm.plugins.riscv"} <= modules  # VMM_ARCH read
    assert not {m for m in modules if m.startswith(("vmm.plugins.arm64.", "vmm.plugins.arm64_realm."))}


def test_help_collects_commands_without_registering_every_hook() -> None:
    modules = _modules_after_build(["--help"])
    assert "vmm.plugins.arm64_realm.cli" in modules  # its vmm_add_commands
    assert "vmm.plugins.arm64_realm.lifecycle" not in modules
    assert "vmm.plugins.arm64.machine" not in modules
    assert "vmm.plugins.x86.vcpu" not in modules


def test_core_commands_skip_the_plugin_commands() -> None:
    assert "vmm.plugins.arm64_realm.cli" not in _modules_after_build(["plugins", "--help"])


@pytest.mark.parametrize("argv, expected", [
    ([], None), (["--help"], None), (["run", "-k", "x"], "run"), (["--version"], None),
    (["realm", "measure"], "realm"),
])
def test_command_name(argv: list[str], expected: str | None) -> None:
    assert command_name(argv) == expected


def test_lazy_hooks_import_on_first_access(monkeypatch: pytest.MonkeyPatch) -> None:
    implementation = types.ModuleType("lazy_probe_pkg.impl")
    implementation.vmm_probe = lambda: "probed"  # type: ignore[attr-defined]
    package = types.ModuleType("lazy_probe_pkg")
    package.__path__ = []  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "lazy_probe_pkg", package)
    getattr_, dir_ = lazy_hooks("lazy_probe_pkg", {".impl": ("vmm_probe",)})
    package.__getattr__ = getattr_  # type: ignore[attr-defined]
    package.__dir__ = dir_  # type: ignore[attr-defined]
    assert "vmm_probe" in dir(package)
    assert "vmm_probe" not in vars(package)
    monkeypatch.setitem(sys.modules, "lazy_probe_pkg.impl", implementation)
    assert package.vmm_probe() == "probed"  # type: ignore[attr-defined]
    assert vars(package)["vmm_probe"] is implementation.vmm_probe  # cached
    with pytest.raises(AttributeError, match="no attribute 'vmm_other'"):
        package.vmm_other  # type: ignore[attr-defined]  # noqa: B018


def test_plugin_packages_still_export_their_hooks() -> None:
    import vmm.plugins.arm64
    import vmm.plugins.arm64.machine

    assert vmm.plugins.arm64.vmm_core_init is vmm.plugins.arm64.machine.vmm_core_init
    from vmm.plugins.arm64_realm import vmm_add_commands

    assert callable(vmm_add_commands)


def test_entry_points_are_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = plugin_discovery.entry_points

    def counting(**selection: str) -> object:
        calls.append(selection)
        return real(**selection)

    monkeypatch.setattr(plugin_discovery, "entry_points", counting)
    first = plugin_discovery.discover()
    second = plugin_discovery.discover()
    assert len(calls) == 1
    assert [entry.name for entry in first] == [entry.name for entry in second]
    assert first is not second  # callers may edit their list


_RUN_PROBE = """
import json, sys
from vmm.core.cli import main
try:
    main({argv!r})
except SystemExit as stop:
    assert not stop.code, stop.code
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _modules_after_run(argv: list[str]) -> set[str]:
    result = subprocess.run([sys.executable, "-c", _RUN_PROBE.format(argv=argv)],
                            capture_output=True, text=True, check=True)
    return set(json.loads(result.stderr.splitlines()[-1]))


def test_a_run_without_virtio_devices_imports_none_and_parses_no_c(tmp_path) -> None:
    image = tmp_path / "bzImage"
    image.write_bytes(x86_bzimage())
    argv = ["run", "--arch", "x86", "--dry-run", "-k", str(image)]
    _modules_after_run(argv)  # fills the FFI cache if it was cold
    modules = _modules_after_run(argv)
    assert "vmm.plugins.virtio.wiring" in modules
    assert not {m for m in modules if m.startswith(("vmm.plugins.virtio.blk", "vmm.plugins.virtio.pci",
                                                    "vmm.plugins.virtio.mmio", "vmm.plugins.virtio.net"))}
    assert "pycparser" not in modules
    with_disk = _modules_after_run([*argv, "--disk", str(image)])
    assert {"vmm.plugins.virtio.blk", "vmm.plugins.virtio.pci.virtio_pci"} <= with_disk


@pytest.mark.parametrize("package", ["vmm.plugins.x86", "vmm.plugins.arm64", "vmm.plugins.arm64_realm",
                                     "vmm.plugins.riscv", "vmm.plugins.virtio"])
def test_lazy_tables_name_every_hook_implementation(package: str) -> None:
    import importlib

    table = importlib.import_module(package).__lazy_hooks__
    for module_name, listed in table.items():
        module = importlib.import_module(module_name, package)
        defined = {name for name, value in vars(module).items()
                   if getattr(value, "vmm_impl", None) is not None
                   and getattr(value, "__module__", None) == module.__name__}
        assert defined == set(listed), f"{package}: {module_name} defines {sorted(defined)}"


def test_vmm_run_builds_one_plugin_manager(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from vmm.core.cli import main

    built = []
    real = plugin_discovery.build_manager

    def counting(*args, **kwargs):
        built.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(plugin_discovery, "build_manager", counting)
    image = tmp_path / "bzImage"
    image.write_bytes(x86_bzimage())
    with pytest.raises(SystemExit) as stop:
        main(["run", "--arch", "x86", "--dry-run", "-k", str(image)])
    assert stop.value.code == 0
    assert built == [("x86",)]
    built.clear()
    # The scan misses "-ax86" and falls back to the host's arch (riscv here): the
    # options come from a riscv manager, so the run builds its own x86 one.
    monkeypatch.setattr("vmm.core.cli.run.host_arch", lambda: "riscv")
    with pytest.raises(SystemExit) as stop:
        main(["run", "-ax86", "--dry-run", "-k", str(image)])
    assert stop.value.code == 0
    assert built == [("riscv",), ("x86",)]


@pytest.mark.parametrize("arch", ["x86", "arm64", "riscv"])
def test_lazy_hooks_register_when_pluggy_looks_statically(monkeypatch, arch) -> None:
    """pluggy 1.7 finds hookimpls with inspect.getattr_static (no module __getattr__):
    every arch plugin must still contribute its hooks."""
    import inspect

    import pluggy

    from vmm.core.plugins import build_manager

    def static_parse(self, plugin, name):
        try:
            found = inspect.getattr_static(plugin, name)
        except AttributeError:
            return None
        return getattr(found, "vmm_impl", None) if inspect.isroutine(found) else None

    monkeypatch.setattr(pluggy.PluginManager, "parse_hookimpl_opts", static_parse)
    pm = build_manager(arch)
    plugin = pm.get_plugin(arch)
    assert [impl.plugin for impl in pm.hook.vmm_memory_layout.get_hookimpls()] == [plugin]
    assert pm.hook.vmm_kvm_model.get_hookimpls()


def _write_plugin(root, hooks_py: str) -> None:
    package = root / "derived_probe_pkg"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text(
        "from vmm.core.lazyhooks import lazy_hooks\n__getattr__, __dir__ = lazy_hooks(__name__)\n")
    (package / "hooks.py").write_text(hooks_py)
    (package / "helpers.py").write_text("def vmm_not_a_hook():\n    pass\n")


_HOOKS = """from vmm import hookimpl\n
@hookimpl
def vmm_validate_config(config):
    '''Check.'''
"""
_PROBE_TABLE = """import json, sys
import derived_probe_pkg
print(json.dumps([derived_probe_pkg.__lazy_hooks__,
                  "derived_probe_pkg.hooks" in sys.modules]))
"""


def test_hook_tables_are_derived_and_follow_an_edit(tmp_path, monkeypatch) -> None:
    """A lazy package without a table gets one from its hookimpls; adding a hook is
    one edit (the stored table follows the changed file); deriving it imports
    nothing into the asking process."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    _write_plugin(tmp_path, _HOOKS)

    def table():
        result = subprocess.run([sys.executable, "-c", _PROBE_TABLE], capture_output=True,
                                text=True, check=True)
        return json.loads(result.stdout)

    assert table() == [{".hooks": ["vmm_validate_config"]}, False]
    assert table() == [{".hooks": ["vmm_validate_config"]}, False]  # stored
    _write_plugin(tmp_path, _HOOKS + "\n\n@hookimpl\ndef vmm_dev_init(vm):\n    '''Add.'''\n")
    assert table() == [{".hooks": ["vmm_dev_init", "vmm_validate_config"]}, False]


@pytest.mark.parametrize("package", ["vmm.plugins.x86", "vmm.plugins.arm64", "vmm.plugins.riscv",
                                     "vmm.plugins.virtio", "vmm.plugins.arm64_realm"])
def test_stored_hook_tables_are_the_derived_ones(package: str) -> None:
    import importlib

    from vmm.core.lazyhooks import derive_table

    assert importlib.import_module(package).__lazy_hooks__ == derive_table(package)
