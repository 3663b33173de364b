"""An architecture vmm has never heard of is one more plugin (issue 14, item 5): the
core takes the architectures from the installed arch plugins, and an arch decodes
its own exits through ``vmm_decode_exit``."""

from __future__ import annotations

import importlib.metadata
import struct
import sys
import types

from vmm import hookimpl
from vmm.core.cli import main as vmm_main
from vmm.core.kvm.exits import Exit
from vmm.core.model.runarea import EXIT_REASON, EXIT_UNION
from vmm.core.plugins import known_arches

from .standin_arch import StandInArch, StandInModel, standin_entries

#: An exit reason no architecture of Linux uses: the stand-in's "hypercall".
MIPS_HYPERCALL = 0x4D49


class HypercallExit(Exit):
    """The stand-in arch's own exit: a hypercall with one argument."""

    __slots__ = ("value",)

    def __init__(self, reason: int, value: int = 0) -> None:
        self.reason, self.value = reason, value


class MipsModel(StandInModel):
    def write_exit(self, area, kind, fields):
        if kind != "mips_hypercall":
            return super().write_exit(area, kind, fields)
        struct.pack_into("<I", area, EXIT_REASON, MIPS_HYPERCALL)
        struct.pack_into("<Q", area, EXIT_UNION, fields["value"])
        return None


class Mips(StandInArch):
    """A stand-in arch plugin for "mips", which decodes and handles its hypercall."""

    @hookimpl
    def vmm_kvm_model(self, config):
        """The model, with the hypercall exit."""
        return MipsModel(self.VMM_ARCH)

    @hookimpl
    def vmm_decode_exit(self, vcpu, reason, run):
        """The hypercall's argument is the first word of kvm_run's union."""
        if reason == MIPS_HYPERCALL:
            return HypercallExit(reason, run.hw.hardware_exit_reason)
        return None

    @hookimpl
    def vmm_handle_exit(self, vcpu, exit):
        """A hypercall ends the VM with its argument as the exit status."""
        if isinstance(exit, HypercallExit):
            vcpu.vm.request_stop(exit.value)
            return True
        return super().vmm_handle_exit(vcpu, exit)


def test_a_new_arch_builds_a_vm_and_decodes_its_own_exit(vmm_vm) -> None:
    entries = standin_entries("mips")
    entries[1].module = Mips("mips")  # type: ignore[assignment]
    assert "mips" in known_arches(entries)
    vm = vmm_vm("mips", entries=entries, kernel=b"\0" * 16).build()
    vm.exit("mips_hypercall", value=7)
    assert vm.stopped and vm.exit_code == 7


def test_an_installed_arch_plugin_is_a_choice_of_arch(monkeypatch, capsys) -> None:
    module = types.ModuleType("fake_vmm_mips")
    module.VMM_ARCH = "mips"  # type: ignore[attr-defined]
    module.VMM_HOST_MACHINES = ("mips64",)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    point = importlib.metadata.EntryPoint(name="mips", value=module.__name__, group="vmm")
    real = importlib.metadata.entry_points
    monkeypatch.setattr("vmm.core.plugins.entry_points",
                        lambda **selection: list(real(**selection)) + (
                            [point] if selection.get("group") == "vmm" else []))
    monkeypatch.setenv("COLUMNS", "200")
    try:
        vmm_main(["run", "--arch", "x86", "--help"])
    except SystemExit as exited:
        assert not exited.code
    assert "Guest architecture: arm64, mips, riscv, x86" in capsys.readouterr().out
    monkeypatch.setattr("os.uname", lambda: types.SimpleNamespace(machine="mips64"))
    from vmm.core.plugins import host_arch

    assert host_arch() == "mips"
