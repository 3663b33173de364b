"""``vmm run`` without typer: the same option values as typer's, or typer decides."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

import vmm.core.runner
from vmm.core.cli import build_app, main
from vmm.core.cli.quickargs import parse_options
from vmm.core.cli.run import RunOptions
from vmm.core.options import OptionGroup
from vmm.core.testing.images import x86_bzimage

#: Command lines the typer-free reading takes, across every arch's plugin options.
PLAIN = [
    ["run"],
    ["run", "--arch", "x86"],
    ["run", "--arch=x86", "-k", "kernel", "-i", "rd", "-p", "console=ttyS0 quiet", "-m", "512",
     "-c", "2", "-f", "fw", "--console", "virtio", "--dry-run", "--nocompat", "--debug"],
    ["run", "--arch", "x86", "--kernel=k", "--initrd=", "--params=", "--mem=64", "--cpus=3"],
    ["run", "--arch", "x86", "--mem", "1", "--mem", "+2", "-m", " 7 ", "-p", ""],
    ["run", "--arch", "x86", "--block", "virtio", "--block", "arm64_realm"],
    ["run", "--arch", "x86", "--disk", "a.img", "-d", "b.img,ro", "--rng", "--rng",
     "-n", "mode=tap,tapif=t0", "--virtio-transport", "pci"],
    ["run", "--arch", "arm64", "--irqchip", "gicv2", "--disable-sve", "--no-pvtime",
     "--disable-mte", "--flash", "f", "--dtb-out", "o.dtb", "--model-host", "k=v"],
    ["run", "--arch", "arm64", "--realm", "--measurement-algo", "sha512", "--realm-pv", "pv",
     "--sve-vl", "256", "--rmm", "p", "--plan-out", "plan"],
    ["run", "--arch", "riscv", "--irqchip", "plic", "--aia-mode", "emul", "--dtb-out", "x"],
    ["run", "--arch", "riscv", "--irqchip=aia", "--virtio-transport=mmio", "--disable-sstc"],
]

#: Command lines left to typer (help, errors, spellings the reader doesn't take).
FOR_TYPER = [
    ["run", "--help"], ["run", "-h"], ["run", "--cpus", "many"], ["run", "--mem", "1.5"],
    ["run", "--console", "vga"], ["run", "--no-such-option"], ["run", "extra"],
    ["run", "--", "-k"], ["run", "-k"], ["run", "--dry-run=1"], ["run", "-ax86"],
    ["run", "-k=x"], ["run", "-p", "-quiet"], ["run", "--arch", "x86", "-"],
    ["run", "--arch", "x86", "--virtio-transport", "usb"],
]


def _typer_values(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(RunOptions, "run", lambda self, values: seen.append(values) or 0)
    with pytest.raises(SystemExit) as stop:
        build_app(argv)(args=argv, prog_name="vmm", standalone_mode=True)
    assert stop.value.code == 0
    [values] = seen
    return values


@pytest.mark.parametrize("argv", PLAIN, ids=" ".join)
def test_plain_command_lines_get_typers_values(argv: list[str], monkeypatch) -> None:
    quick = parse_options(argv[1:], RunOptions(argv).options)
    expected = _typer_values(argv, monkeypatch)
    assert quick == expected
    assert list(quick) == list(expected)  # the plugins' options keep their order
    assert [type(value) for value in quick.values()] == [type(v) for v in expected.values()]


@pytest.mark.parametrize("argv", FOR_TYPER, ids=" ".join)
def test_other_command_lines_are_left_to_typer(argv: list[str]) -> None:
    assert parse_options(argv[1:], RunOptions(argv).options) is None


def test_options_of_a_kind_typer_converts_leave_the_command_line_to_it() -> None:
    group = OptionGroup("odd")
    group.addoption("--ratio", type=float, default=1)
    group.addoption("--on", type=bool, default=True)
    group.addoption("--count", type=int, default="3")
    for option in group.options:
        assert parse_options([], [option]) is None
    plain = OptionGroup("plain")
    plain.addoption("--count", type=int, default=3)
    plain.addoption("--name", "-n")
    assert parse_options(["-n", "x"], plain.options) == {"count": 3, "name": "x"}
    plain.addoption("--other", "-n")  # the same flag twice
    assert parse_options([], plain.options) is None


def test_a_plain_run_imports_no_typer(tmp_path) -> None:
    image = tmp_path / "bzImage"
    image.write_bytes(x86_bzimage())
    probe = (f"import json, sys\nfrom vmm.core.cli import main\ntry:\n"
             f"    main(['run', '--arch', 'x86', '--dry-run', '-k', {str(image)!r}])\n"
             f"except SystemExit as stop:\n    assert not stop.code, stop.code\n"
             f"print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n")
    for _ in range(2):  # the first run may fill the startup cache (importlib.metadata)
        result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                check=True)
    modules = set(json.loads(result.stderr.splitlines()[-1]))
    assert not {name for name in modules if name.split(".")[0] in ("typer", "click", "rich")}
    assert "importlib.metadata" not in modules


@pytest.mark.parametrize("argv", [["run", "--arch", "x86"], ["run", "-ax86"]],
                         ids=["without typer", "typer"])
def test_ctrl_c_before_the_vm_exits_130_either_way(argv, monkeypatch) -> None:
    def interrupted(config, console=None, pm=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(vmm.core.runner, "run_config", interrupted)
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 130


def _sample_words(option) -> list[list[str]]:
    """Each spelling of ``option`` with a value typer accepts."""
    if option.type is bool:
        return [[flag] for flag in option.flags]
    if option.dest == "block":
        value = "virtio"
    elif option.choices:
        value = option.choices[-1]
    else:
        value = "7" if option.type is int else "v"
    spellings = [[flag, value] for flag in option.flags]
    return spellings + [[f"{flag}={value}"] for flag in option.flags if flag.startswith("--")]


def test_every_declared_option_reads_as_typer_reads_it(monkeypatch) -> None:
    """Generated from the option tables, so a new option (core or plugin) is checked
    without editing this file: the typer-free reading and typer agree on every
    spelling of every option of every installed arch, or the reading steps aside."""
    from vmm.core.plugins import known_arches

    compared = 0
    for arch in known_arches():
        for option in RunOptions(["run", "--arch", arch]).options:
            if option.dest == "arch":
                continue
            for words in _sample_words(option):
                argv = ["run", "--arch", arch, *words]
                quick = parse_options(argv[1:], RunOptions(argv).options)
                if quick is None:
                    continue
                with monkeypatch.context() as patch:
                    assert quick == _typer_values(argv, patch), argv
                compared += 1
    assert compared > 50
