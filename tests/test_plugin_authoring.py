"""The plugin author's path: the guide is current, bad plugins fail at start-up with
one line naming them, and the example package installs and works from a fresh
virtual environment."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import sysconfig
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

from vmm import hookimpl
from vmm.core.cli import main as vmm_main
from vmm.core.docgen import collect, render, splice
from vmm.core.testing import skip_or_fail

REPO = Path(__file__).resolve().parents[1]
GUIDE = REPO / "docs" / "plugins.md"
EXAMPLE = REPO / "examples" / "vmm-debugport"
STANDIN_TESTS = REPO / "tests" / "authoring" / "test_debugport_standin.py"


# --------------------------------------------------------------------------- the guide


def test_guide_hook_reference_matches_hookspecs():
    committed = GUIDE.read_text()
    assert splice(committed, render(collect())) == committed, (
        "docs/plugins.md is out of date: run python -m vmm.core.docgen --write docs/plugins.md"
    )


def test_guide_covers_what_a_plugin_author_needs():
    text = GUIDE.read_text()
    for topic in ("vmm_addoption", "vmm_add_commands", "VMM_LAYER_FOR", "wrapper=True",
                  "StashKey", "[project.entry-points.vmm]", "--block", "VMM_ARCHES",
                  "arm64_realm", "vmm_vm", "vmm_arch", "require_kvm"):
        assert topic in text, f"docs/plugins.md does not mention {topic}"


# --------------------------------------------------------------------------- start-up errors


@hookimpl
def vmm_adoption(group):
    """A misspelled vmm_addoption."""


@hookimpl
def vmm_dev_init(machine):
    """An implementation asking for a parameter the hook doesn't have."""


BROKEN_PLUGINS = {
    "misspelled": ({"vmm_adoption": vmm_adoption},
                   "plugin 'misspelled': unknown hook vmm_adoption (misspelled hook name?)"),
    "badparam": ({"vmm_dev_init": vmm_dev_init},
                 "plugin 'badparam' is invalid: vmm_dev_init: Argument(s) {'machine'} are "
                 "declared in the hookimpl but can not be found in the hookspec"),
    "mipsonly": ({"VMM_ARCHES": ("mips",)},
                 "plugin 'mipsonly': VMM_ARCHES names unknown architecture 'mips' "
                 "(known: arm64, riscv, x86)"),
    "tuplearch": ({"VMM_ARCH": ("mips",)},
                  "plugin 'tuplearch': VMM_ARCH must be a name, got ('mips',)"),
    "sparclayer": ({"VMM_LAYER_FOR": "sparc"},
                   "plugin 'sparclayer': VMM_LAYER_FOR names unknown architecture 'sparc' "
                   "(known: arm64, riscv, x86)"),
}


def install_fake_entry_point(monkeypatch, name: str, attributes: dict) -> None:
    """Make ``name`` look like an installed plugin (an entry point in group vmm)."""
    module_name = f"fake_vmm_plugin_{name}"
    module = types.ModuleType(module_name)
    for attribute, value in attributes.items():
        setattr(module, attribute, value)
    monkeypatch.setitem(sys.modules, module_name, module)
    point = importlib.metadata.EntryPoint(name=name, value=module_name, group="vmm")
    real = importlib.metadata.entry_points

    def entry_points(**selection):
        found = list(real(**selection))
        return found + [point] if selection.get("group") == "vmm" else found

    monkeypatch.setattr("vmm.core.plugins.entry_points", entry_points)


def run_vmm(capsys, *argv: str) -> tuple[int, str, str]:
    """Run the ``vmm`` program in-process; return its exit status, stdout and stderr."""
    with pytest.raises(SystemExit) as exited:
        vmm_main(list(argv))
    captured = capsys.readouterr()
    return exited.value.code or 0, captured.out, captured.err


@pytest.mark.parametrize("name", sorted(BROKEN_PLUGINS))
@pytest.mark.parametrize("command", [["plugins", "--arch", "x86"], ["run", "--arch", "arm64", "--help"]],
                         ids=["plugins", "run-help"])
def test_broken_plugin_stops_vmm_with_one_line_naming_it(monkeypatch, capsys, name, command):
    attributes, message = BROKEN_PLUGINS[name]
    install_fake_entry_point(monkeypatch, name, attributes)
    status, out, err = run_vmm(capsys, *command)
    assert status == 1
    assert err == f"vmm: error: {message}\n"
    assert "Traceback" not in out + err


def test_broken_plugin_import_is_reported_with_its_name(monkeypatch, capsys):
    point = importlib.metadata.EntryPoint(name="ghost", value="no_such_module_xyz", group="vmm")
    real = importlib.metadata.entry_points
    monkeypatch.setattr(
        "vmm.core.plugins.entry_points",
        lambda **selection: list(real(**selection)) + [point],
    )
    status, _, err = run_vmm(capsys, "plugins", "--arch", "x86")
    assert status == 1
    assert err.startswith("vmm: error: plugin 'ghost' failed to import: ")
    assert err.count("\n") == 1


def test_blocking_the_broken_plugin_lets_vmm_start(monkeypatch, capsys):
    install_fake_entry_point(monkeypatch, "misspelled", {"vmm_adoption": vmm_adoption})
    status, out, err = run_vmm(capsys, "plugins", "--arch", "x86", "--block", "misspelled")
    assert (status, err) == (0, "")
    assert "core (vmm.core.coreplugin)" in out
    assert "misspelled (blocked)" in out.splitlines()


def test_plugin_limited_to_other_arches_is_not_loaded(monkeypatch, capsys):
    install_fake_entry_point(monkeypatch, "armonly", {"VMM_ARCHES": ("arm64", "riscv")})
    _, x86_listing, _ = run_vmm(capsys, "plugins", "--arch", "x86")
    _, arm64_listing, _ = run_vmm(capsys, "plugins", "--arch", "arm64")
    assert "armonly" not in x86_listing
    assert "armonly (fake_vmm_plugin_armonly)" in arm64_listing


# --------------------------------------------------------------------------- fresh venv


@dataclass
class Venv:
    """A virtual environment and the copy of the example installed in it."""

    path: Path
    example: Path

    def run(self, *argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        """Run ``argv`` with the environment's python first on PATH."""
        env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
        env["PATH"] = f"{self.path / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(self.path)
        return subprocess.run(list(argv), capture_output=True, text=True, cwd=cwd or self.example,
                              env=env, timeout=600)

    def vmm(self, *argv: str) -> subprocess.CompletedProcess:
        """The ``vmm`` program as the environment's python runs it."""
        return self.run("python", "-m", "vmm", *argv)


@pytest.fixture(scope="module")
def venv_with_example(tmp_path_factory) -> Venv:
    """A fresh virtual environment where pip installed the example from a copy, so
    no build files land in the repository.

    It sees the vmm under test, its dependencies and pytest through the site-packages
    of the python running these tests (the project's .venv), added by a .pth file:
    not ``--system-site-packages``, which would show whatever this machine has
    installed system-wide instead."""
    base = tmp_path_factory.mktemp("authoring")
    example = base / "vmm-debugport"
    shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns(
        "build", "*.egg-info", "__pycache__", ".benchmarks", ".pytest_cache"))
    venv = Venv(base / "venv", example)
    subprocess.run([sys.executable, "-m", "venv", str(venv.path)], check=True, timeout=120)
    paths = sysconfig.get_paths()
    site_dirs = sorted({paths["purelib"], paths["platlib"]})
    venv_site = Path(sysconfig.get_path("purelib", "venv",
                                        vars={"base": str(venv.path), "platbase": str(venv.path)}))
    # addsitedir, not a plain path line: it also reads the .pth files there (the
    # editable install's path entry)
    (venv_site / "vmm_under_test.pth").write_text(
        "import site; " + "; ".join(f"site.addsitedir({d!r})" for d in site_dirs) + "\n")
    install = venv.run("pip", "install", "--no-deps", str(example))
    if install.returncode != 0:
        last = (install.stderr.strip().splitlines() or ["no output"])[-1]
        skip_or_fail(f"pip could not build the example here: {last}")
    return venv


def test_venv_lists_the_example_plugin_and_its_hooks(venv_with_example):
    listing = venv_with_example.vmm("plugins", "--arch", "riscv")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert "debugport (vmm_debugport)" in lines
    hooks = lines[lines.index("debugport (vmm_debugport)") + 1 :]
    for hook in ("vmm_addoption", "vmm_dev_init", "vmm_virtio_host_features"):
        assert f"    {hook}" in hooks


@pytest.mark.parametrize("arch", ["x86", "arm64", "riscv"])
def test_venv_run_help_shows_the_example_options(venv_with_example, arch):
    result = venv_with_example.vmm("run", "--arch", arch, "--help")
    assert result.returncode == 0, result.stderr
    for flag in ("--debug-exit-port", "--debug-exit-addr", "--virtio-order-platform"):
        assert flag in result.stdout
    blocked = venv_with_example.vmm("run", "--arch", arch, "--block", "debugport",
                      "--help")
    assert "--debug-exit-port" not in blocked.stdout


def test_venv_device_answers_guest_accesses(venv_with_example):
    """The installed package (not the source tree) answers reads and ends the VM."""
    where = venv_with_example.run("python", "-c",
                                  "import vmm_debugport; print(vmm_debugport.__file__)")
    assert where.stdout.startswith(str(venv_with_example.path)), where.stdout + where.stderr
    result = venv_with_example.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                   str(STANDIN_TESTS), cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "skipped" not in result.stdout


def test_venv_example_own_tests_pass(venv_with_example):
    """The example's own tests (vmm's fixtures only, real arch plugins) pass; an
    arch whose plugin has no model of KVM yet is skipped with that reason."""
    result = venv_with_example.run("python", "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                                   "tests")
    assert result.returncode == 0, result.stdout + result.stderr
    skipped = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    assert all("gives no model of KVM" in line for line in skipped), skipped


def debug_port_guest(port: int, status: int) -> bytes:
    """A flat real-mode x86 guest: read MAGIC from ``port``; if it matches, write
    ``status`` to the EXIT register, else write 1; then halt.

    Hand-encoded 16-bit code (checked with ``llvm-mc --disassemble
    -triple=i386-unknown-unknown-code16``)::

        mov dx, port ; in eax, dx ; cmp eax, MAGIC ; mov al, status ; je +2
        mov al, 1 ; add dx, EXIT_REGISTER ; out dx, al ; hlt ; jmp hlt
    """
    magic = int.from_bytes(b"vmm!", "little")
    exit_offset = 4
    return b"".join([
        b"\xba" + port.to_bytes(2, "little"),          # mov dx, port
        b"\x66\xed",                                    # in eax, dx
        b"\x66\x3d" + magic.to_bytes(4, "little"),      # cmp eax, MAGIC
        b"\xb0" + bytes([status]),                      # mov al, status
        b"\x74\x02",                                    # je over the next mov
        b"\xb0\x01",                                    # mov al, 1
        b"\x83\xc2" + bytes([exit_offset]),             # add dx, EXIT_REGISTER
        b"\xee",                                        # out dx, al
        b"\xf4\xeb\xfd",                                # hlt; jmp back to hlt
    ])


@pytest.mark.parametrize(("port", "status", "options"), [
    (0x500, 42, []),
    (0x508, 7, ["--debug-exit-port", "0x508"]),
])
def test_venv_real_kvm_guest_ends_through_the_device(venv_with_example, require_kvm, tmp_path,
                                                      port, status, options):
    """On this machine's /dev/kvm: a real guest reads the magic and picks vmm's exit status."""
    guest = tmp_path / "debugport-guest.bin"
    guest.write_bytes(debug_port_guest(port, status))
    result = venv_with_example.vmm("run", "--arch", "x86", "--flat", "-k", str(guest), "-m", "16",
                                   *options)
    assert result.returncode == status, result.stdout + result.stderr
