"""The plugin API of vmm.core.api matches the objects plugins get, and the small
promises around it: option groups know the arch, request_stop keeps to 0-255."""

from __future__ import annotations

import inspect

import pytest

from vmm.core import api
from vmm.core.apidoc import SHOWN, members
from vmm.core.bus import Bus
from vmm.core.memory import GuestMemory
from vmm.core.options import OptionGroup
from vmm.core.testing import run_guest
from vmm.core.testing.kvm_guest import GuestTimeoutError

IMPLEMENTATIONS = {"PluginBus": Bus, "PluginMemory": GuestMemory}


def test_every_protocol_member_is_documented():
    for class_name, _ in SHOWN:
        protocol = getattr(api, class_name)
        assert inspect.getdoc(protocol), class_name
        for name, member in members(protocol):
            assert inspect.getdoc(member), f"{class_name}.{name} has no docstring"


@pytest.mark.parametrize("class_name", sorted(IMPLEMENTATIONS))
def test_core_classes_have_the_declared_signatures(class_name):
    protocol, implementation = getattr(api, class_name), IMPLEMENTATIONS[class_name]
    for name, member in members(protocol):
        if isinstance(member, property):
            continue  # an attribute (checked on a live object below)
        real = getattr(implementation, name)
        assert inspect.signature(real) == inspect.signature(member), f"{class_name}.{name}"


def test_the_vm_hooks_receive_has_every_member(vmm_vm, vmm_arch):
    vm = vmm_vm(vmm_arch).build()
    for name, member in members(api.PluginVm):
        assert hasattr(vm.vm, name), f"Vm has no {name}"
        if not isinstance(member, property):
            assert inspect.signature(getattr(vm.vm, name)) == inspect.signature(
                member.__get__(vm.vm)), name
    for bus in (vm.vm.mmio, vm.vm.pio):
        assert all(hasattr(bus, name) for name, _ in members(api.PluginBus))
    for name, _ in members(api.InterruptController):
        assert callable(getattr(vm.vm.irqchip, name)), f"{vmm_arch} irqchip has no {name}"


@pytest.mark.parametrize("code", [256, -1, 1000])
def test_request_stop_refuses_a_status_no_process_can_have(vmm_vm, code):
    vm = vmm_vm("x86").build()
    with pytest.raises(ValueError, match="0 to 255"):
        vm.vm.request_stop(code)
    assert not vm.stopped
    vm.vm.request_stop(255)
    assert vm.exit_code == 255


def test_option_groups_know_the_arch_and_options_their_arches():
    for arch, expected in [("x86", ["--port"]), ("arm64", ["--addr"]), (None, ["--port", "--addr"])]:
        group = OptionGroup("mine", arch=arch)
        group.addoption("--port", arches=("x86",))
        group.addoption("--addr", arches=("arm64", "riscv"))
        assert [option.flags[0] for option in group.options] == expected
    with pytest.raises(ValueError, match="arches must be a tuple of names"):
        OptionGroup("mine", arch="x86").addoption("--bad", arches="x86")  # type: ignore[arg-type]


def test_run_guest_kills_a_guest_past_its_timeout(tmp_path):
    """A stand-in "vmm" that never ends: killed with its process group, the test fails."""
    sleeper = tmp_path / "python"
    sleeper.write_text("#!/bin/sh\nsleep 60\n")
    sleeper.chmod(0o755)
    with pytest.raises(GuestTimeoutError, match="still running after 0.5 s"):
        run_guest(tmp_path / "guest.bin", timeout=0.5, python=str(sleeper))
