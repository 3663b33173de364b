"""The source stays laid out one way: arch plugins name their modules by role, and
no module imports, even for type hints or inside a function, one that imports it
back (issue 14, item 8)."""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import vmm

PACKAGE = Path(vmm.__file__).resolve().parent
ARCH_PLUGINS = ("x86", "arm64", "riscv")

#: Which module of an arch plugin implements each hook (kvmtool and Firecracker
#: give the same role the same file name on every architecture).
HOOK_MODULES = {
    "options": {"vmm_addoption", "vmm_validate_config"},
    "machine": {"vmm_kvm_model", "vmm_memory_layout", "vmm_vm_type", "vmm_core_init",
                "vmm_core_exit"},
    "boot": {"vmm_builtin_guest", "vmm_load_kernel", "vmm_load_initrd", "vmm_load_firmware"},
    "vcpu": {"vmm_base_init", "vmm_base_exit", "vmm_vcpu_init", "vmm_vcpu_boot_registers",
             "vmm_vcpu_finalize", "vmm_register_dump", "vmm_handle_exit", "vmm_psci_method",
             "vmm_arm64_sve", "vmm_decode_exit", "vmm_vcpu_features", "vmm_vcpu_stalled"},
    "devices": {"vmm_dev_base_init", "vmm_dev_base_exit", "vmm_dev_init", "vmm_dev_exit",
                "vmm_firmware_init", "vmm_firmware_exit", "vmm_late_init", "vmm_late_exit",
                "vmm_virtio_transports"},
    "emulated_host": {"vmm_emulated_host"},
    # optional: an arch's own hookspecs, added by its vmm_addhooks
    "hookspecs": {"vmm_addhooks"},
}
OPTIONAL_MODULES = {"hookspecs"}
#: Modules every arch plugin has besides the hook modules, by role.
SUPPORT_MODULES = ("layout", "registers", "uapi", "irqchip", "guest", "image", "model", "state")
MODULE_OF_HOOK = {hook: module for module, hooks in HOOK_MODULES.items() for hook in hooks}


@pytest.mark.parametrize("arch", ARCH_PLUGINS)
def test_arch_plugins_have_the_same_modules(arch: str) -> None:
    folder = PACKAGE / "plugins" / arch
    modules = {path.stem for path in folder.glob("*.py")}
    expected = (set(HOOK_MODULES) - OPTIONAL_MODULES) | set(SUPPORT_MODULES)
    assert expected - modules == set(), f"plugins/{arch} lacks modules other arches have"


@pytest.mark.parametrize("arch", ARCH_PLUGINS)
def test_each_hook_lives_in_the_module_of_its_role(arch: str) -> None:
    table = importlib.import_module(f"vmm.plugins.{arch}").__lazy_hooks__
    misplaced = {hook: module for module, hooks in table.items() for hook in hooks
                 if module != "." + MODULE_OF_HOOK.get(hook, "?")}
    assert misplaced == {}, f"hooks in the wrong module (see HOOK_MODULES): {misplaced}"


def _module_files() -> dict[str, tuple[Path, bool]]:
    """Every module of the vmm package: dotted name -> (file, is a package).

    ``vmm.core`` and ``vmm.plugins`` are symbolic links, which ``rglob`` doesn't
    follow: each is walked from its own folder.
    """
    modules = {}
    for package, folder in (("vmm", PACKAGE), ("vmm.core", PACKAGE / "core"),
                            ("vmm.plugins", PACKAGE / "plugins")):
        files = folder.glob("*.py") if package == "vmm" else folder.resolve().rglob("*.py")
        for path in files:
            relative = path.relative_to(folder.resolve() if package != "vmm" else folder)
            parts = [*package.split("."), *relative.with_suffix("").parts]
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            modules[".".join(parts)] = (path, is_package)
    return modules


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.walk(tree):  # every import: TYPE_CHECKING and function-level ones too
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node


def _imported(name: str, is_package: bool, node: ast.Import | ast.ImportFrom,
              modules: dict[str, tuple[Path, bool]]) -> Iterator[str]:
    """The vmm modules an import statement in module ``name`` names."""
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            parts = name.split(".") if is_package else name.split(".")[:-1]
            parts = parts[: len(parts) - node.level + 1]
            base = ".".join(parts + ([node.module] if node.module else []))
        targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                   for alias in node.names]
    for target in targets:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name:
            yield target


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    modules = _module_files()
    assert {"vmm.hookspecs", "vmm.core.vm", "vmm.plugins.x86.vcpu"} <= set(modules)
    graph = {
        name: set(target for node in _imports(ast.parse(path.read_text()))
                  for target in _imported(name, is_package, node, modules))
        for name, (path, is_package) in modules.items()
    }
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
