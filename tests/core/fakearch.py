"""A minimal architecture plugin for core tests: flat image at 0x1000, model of KVM."""

from __future__ import annotations

import errno
import importlib

from vmm import hookimpl
from vmm.core.images import LoadedImage
from vmm.core.layout import Bank, MemoryLayout
from vmm.core.model.base import ArchModel, ModelErrno
from vmm.core.plugins import PluginEntry

VMM_ARCH = "x86"
LOAD_ADDRESS = 0x1000


class FakeModel(ArchModel):
    arch = "x86"

    def set_one_reg(self, vcpu, reg_id, value):
        if reg_id == 0xBAD:
            raise ModelErrno(errno.EINVAL, "bad register")
        super().set_one_reg(vcpu, reg_id, value)


class Registers:
    def __init__(self, vcpu) -> None:
        self.vcpu = vcpu

    def set(self, name: str, value: int) -> None:
        self.vcpu.fd.set_one_reg(int(name, 16), value)

    def get(self, name: str) -> int:
        return self.vcpu.fd.get_one_reg(int(name, 16))


@hookimpl
def vmm_kvm_model(config):
    """The fake arch's model."""
    return FakeModel()


@hookimpl
def vmm_memory_layout(config):
    """One bank of RAM at 0."""
    return MemoryLayout([Bank(0, config.mem_bytes)])


@hookimpl
def vmm_load_kernel(vm, data, path):
    """Any file, flat, at 0x1000."""
    vm.memory.write(LOAD_ADDRESS, data)
    return LoadedImage("kernel", LOAD_ADDRESS, len(data), len(data), LOAD_ADDRESS, path)


@hookimpl
def vmm_vcpu_init(vm, vcpu):
    """Register access through ONE_REG with hex names."""
    vcpu.registers = Registers(vcpu)


@hookimpl
def vmm_vcpu_boot_registers(vm, vcpu):
    """Register 0x10 gets the entry."""
    return {"0x10": vm.kernel.entry}


@hookimpl
def vmm_handle_exit(vcpu, exit):
    """A system event stops the VM with its type as the exit code."""
    if exit.reason == 24:
        vcpu.vm.request_stop(exit.type - 1)
        return True
    return None


def entries(*extra: PluginEntry) -> list[PluginEntry]:
    """Core + this fake arch (+ extra) as the factory's plugin list."""
    import sys

    core = PluginEntry("core", importlib.import_module("vmm.core.coreplugin"))
    return [core, PluginEntry("fake", sys.modules[__name__]), *extra]
