"""The plugin author's path: the guide is current, bad plugins fail at start-up with
one line naming them, and the example package installs and works from a fresh
virtual environment."""

from __future__ import annotations

import importlib.metadata
import sys
import types
from pathlib import Path

import pytest
from authoring.venvs import example_venv_fixture

from vmm import hookimpl
from vmm.core.cli import main as vmm_main
from vmm.core.docgen import generate

REPO = Path(__file__).resolve().parents[1]
GUIDE = REPO / "docs" / "plugins.md"
EXAMPLE = REPO / "examples" / "vmm-debugport"
STANDIN_TESTS = REPO / "tests" / "authoring" / "test_debugport_standin.py"


# --------------------------------------------------------------------------- the guide


def test_guide_hook_and_api_references_match_the_code():
    committed = GUIDE.read_text()
    assert generate(committed) == committed, (
        "docs/plugins.md is out of date: run python -m vmm.core.docgen --write docs/plugins.md"
    )


def test_guide_covers_what_a_plugin_author_needs():
    text = GUIDE.read_text()
    for topic in ("vmm_addoption", "vmm_add_commands", "VMM_LAYER_FOR", "wrapper=True",
                  "StashKey", "[project.entry-points.vmm]", "--block", "VMM_ARCHES",
                  "arm64_realm", "vmm_vm", "vmm_arch", "require_kvm", "vmm_kvm_guest",
                  "io_read", "io_write", "request_stop", "allocate(", "property_reg",
                  "#address-cells", "arches=", "device_tree()", "vmm-testexit"):
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


#: A fresh virtual environment with the example installed from a copy.
venv_with_example = example_venv_fixture(EXAMPLE)


@pytest.mark.install
def test_venv_lists_the_example_plugin_and_its_hooks(venv_with_example):
    hooks = venv_with_example.listed_hooks("debugport (vmm_debugport)", "riscv")
    assert {"vmm_addoption", "vmm_dev_init", "vmm_virtio_host_features"} <= set(hooks)


@pytest.mark.parametrize("arch", ["x86", "arm64", "riscv"])
@pytest.mark.install
def test_venv_run_help_shows_the_example_options(venv_with_example, arch):
    result = venv_with_example.vmm("run", "--arch", arch, "--help")
    assert result.returncode == 0, result.stderr
    own, other = ("--debug-exit-port", "--debug-exit-addr")[:: 1 if arch == "x86" else -1]
    for flag in (own, "--virtio-order-platform"):
        assert flag in result.stdout
    assert other not in result.stdout, "each address option exists only for its arches"
    blocked = venv_with_example.vmm("run", "--arch", arch, "--block", "debugport",
                      "--help")
    assert "--debug-exit-port" not in blocked.stdout


@pytest.mark.install
def test_venv_device_answers_guest_accesses(venv_with_example):
    """The installed package (not the source tree) answers reads and ends the VM."""
    where = venv_with_example.run("python", "-c",
                                  "import vmm_debugport; print(vmm_debugport.__file__)")
    assert where.stdout.startswith(str(venv_with_example.path)), where.stdout + where.stderr
    result = venv_with_example.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                   str(STANDIN_TESTS), cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "skipped" not in result.stdout


@pytest.mark.install
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
    (0xF00, 42, []),
    (0x508, 7, ["--debug-exit-port", "0x508"]),
])
@pytest.mark.install
def test_venv_real_kvm_guest_ends_through_the_device(venv_with_example, require_kvm, tmp_path,
                                                      port, status, options):
    """On this machine's /dev/kvm: a real guest reads the magic and picks vmm's exit status."""
    guest = tmp_path / "debugport-guest.bin"
    guest.write_bytes(debug_port_guest(port, status))
    result = venv_with_example.vmm("run", "--arch", "x86", "--flat", "-k", str(guest), "-m", "16",
                                   *options)
    assert result.returncode == status, result.stdout + result.stderr


def test_venv_taken_port_is_one_line_naming_both(venv_with_example, tmp_path):
    """--debug-exit-port on COM1's ports: refused before the guest runs, no traceback."""
    guest = tmp_path / "guest.bin"
    guest.write_bytes(debug_port_guest(0x3F8, 1))
    result = venv_with_example.vmm("run", "--arch", "x86", "--flat", "-k", str(guest), "-m", "16",
                                   "--dry-run", "--debug-exit-port", "0x3f8")
    assert result.returncode == 1
    assert result.stderr == ("vmm: error: --debug-exit-port 0x3f8: port I/O range 0x3f8-0x3ff of "
                             "debugport overlaps 0x3f8-0x3ff reserved for com1; choose another "
                             "address\n")
