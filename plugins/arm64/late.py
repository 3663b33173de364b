"""The late stage on arm64: vGIC CTRL_INIT, PMUs, then the device tree in guest RAM."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmm import hookimpl
from vmm.core.errors import ConfigError
from vmm.core.images import LoadedImage

from . import layout as mm
from .options import DTB_OUT
from .state import arm64_state

if TYPE_CHECKING:
    from vmm.core.vm import Vm


@hookimpl
def vmm_late_init(vm: Vm) -> None:
    """Initialise the vGIC and the PMUs, build the DTB, write it, announce it."""
    from . import uapi as u
    from .devicetree import build_device_tree
    from .vcpu import init_pmus

    state = arm64_state(vm)
    vm.irqchip.initialize()
    init_pmus(vm)
    state.mpidrs = [vcpu.get_reg("mpidr_el1") for vcpu in vm.vcpus]
    psci_0_2 = bool(state.vcpu_features >> u.KVM_ARM_VCPU_PSCI_0_2 & 1)
    blob = build_device_tree(vm, state, psci_0_2)
    state.dtb = blob
    vm.memory.write(state.dtb_address, blob)
    vm.dtb = LoadedImage("dtb", state.dtb_address, len(blob), mm.DTB_WINDOW, format="dtb")
    vm.hook.vmm_image_loaded(vm=vm, image=vm.dtb)
    out = vm.config.option(DTB_OUT)
    if out:
        try:
            with open(out, "wb") as handle:
                handle.write(blob)
        except OSError as error:
            raise ConfigError(f"--dtb-out {out!r}: {error.strerror}") from None
