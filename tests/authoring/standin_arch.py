"""A stand-in arch plugin for any of the three architecture names.

It lets the plugin-authoring tests drive a third-party plugin through the
``vmm_vm`` fixture (``entries=standin_entries(arch, ...)``) before, or besides,
the real arch plugins' models: one RAM bank, a flat kernel copied to the start of
RAM, no registers, and system events ending the VM.
"""

from __future__ import annotations

import importlib

from vmm import hookimpl
from vmm.core.images import LoadedImage
from vmm.core.kvm import ioctls as k
from vmm.core.layout import Bank, MemoryLayout
from vmm.core.model.base import ArchModel
from vmm.core.plugins import PluginEntry

RAM_START = {"x86": 0, "arm64": 0x8000_0000, "riscv": 0x8000_0000}
#: The window platform devices are allocated from (``vm.mmio.allocate``).
DEVICE_WINDOW = {"x86": Bank(0xD000_0000, 0x1000_0000), "arm64": Bank(0x1000_0000, 0x1000_0000),
                 "riscv": Bank(0x1000_0000, 0x1000_0000)}
#: Where the stand-in puts RAM for an architecture vmm has no plugin of its own for.
OTHER_RAM_START = 0x4000_0000
OTHER_DEVICE_WINDOW = Bank(0x1000_0000, 0x1000_0000)


class StandInModel(ArchModel):
    """The generic model with the arch's name."""

    def __init__(self, arch: str) -> None:
        self.arch = arch


class StandInArch:
    """Hook implementations of a minimal arch plugin (``VMM_ARCH`` set per instance)."""

    def __init__(self, arch: str) -> None:
        self.VMM_ARCH = arch

    @hookimpl
    def vmm_kvm_model(self, config):
        """The generic model under this arch's name."""
        return StandInModel(self.VMM_ARCH)

    @hookimpl
    def vmm_memory_layout(self, config):
        """One RAM bank where the real arch puts its RAM, and a device window."""
        return MemoryLayout([Bank(RAM_START.get(self.VMM_ARCH, OTHER_RAM_START), config.mem_bytes)],
                            {"virtio_mmio": DEVICE_WINDOW.get(self.VMM_ARCH, OTHER_DEVICE_WINDOW)})

    @hookimpl
    def vmm_load_kernel(self, vm, data, path):
        """Copy the image, whatever it is, to the start of RAM."""
        start = vm.layout.ram_start
        vm.memory.write(start, data)
        return LoadedImage("kernel", start, len(data), len(data), start, path, "flat")

    @hookimpl
    def vmm_handle_exit(self, vcpu, exit):
        """A system event (power off) ends the VM with status 0."""
        if exit.reason == k.KVM_EXIT_SYSTEM_EVENT:
            vcpu.vm.request_stop(0)
            return True
        return None


def standin_entries(arch: str, *plugins: tuple[str, object]) -> list[PluginEntry]:
    """The core, the stand-in arch for ``arch``, then ``plugins`` as entry points."""
    core = PluginEntry("core", importlib.import_module("vmm.core.coreplugin"))
    standin = PluginEntry(f"standin-{arch}", StandInArch(arch))  # type: ignore[arg-type]
    return [core, standin, *(PluginEntry(name, plugin) for name, plugin in plugins)]  # type: ignore[arg-type]
