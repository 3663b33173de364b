"""The model's GICv3 ITS (KVM_DEV_TYPE_ARM_VGIC_ITS), as arch/arm64/kvm/vgic/vgic-its.c
and Documentation/virt/kvm/devices/arm-vgic-its.rst describe it.

An ITS needs a host GICv3; its frame is 64 KiB aligned and 128 KiB long, placed once;
KVM_DEV_ARM_VGIC_CTRL_INIT wants the frame placed. Once a VM has one, KVM_SIGNAL_MSI
needs KVM_MSI_VALID_DEVID and an address that is an ITS's GITS_TRANSLATER.
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass

from vmm.core.model.base import ModelErrno
from vmm.core.model.decode import UserMemory
from vmm.core.model.state import DeviceState, VmState

DEV_VGIC_ITS = 8
GRP_ADDR, GRP_CTRL = 0, 4
ITS_ADDR_TYPE = 4
CTRL_INIT, CTRL_RESET = 0, 4
ITS_SIZE, ITS_ALIGN = 0x20000, 0x10000
#: GITS_TRANSLATER: the doorbell an MSI writes, in the frame's second 64 KiB page.
GITS_TRANSLATER = 0x10040


@dataclass
class ItsModel:
    """One modelled ITS of a VM."""

    base: int | None = None
    initialized: bool = False


def create_its(vm: VmState, host_has_its: bool) -> DeviceState:
    """KVM_CREATE_DEVICE of an ITS."""
    if not host_has_its:
        raise ModelErrno(errno.ENODEV, "no ITS on this host (it needs a GICv3)")
    its = ItsModel()
    vm.arch.setdefault("its", []).append(its)
    device = DeviceState(vm, DEV_VGIC_ITS)
    device.arch["its"] = its
    return device


def set_its_attr(device: DeviceState, group: int, attr: int, addr: int) -> None:
    """KVM_SET_DEVICE_ATTR on an ITS fd."""
    its: ItsModel = device.arch["its"]
    if group == GRP_ADDR:
        if attr != ITS_ADDR_TYPE:
            raise ModelErrno(errno.ENODEV, f"ITS address type {attr} unknown")
        (base,) = struct.unpack("<Q", UserMemory.read(addr, 8))
        if its.base is not None:
            raise ModelErrno(errno.EEXIST, "ITS address already set")
        if base % ITS_ALIGN:
            raise ModelErrno(errno.EINVAL, f"ITS address {base:#x} not 64 KiB aligned")
        if base + ITS_SIZE > 1 << device.vm.arch["ipa_bits"]:
            raise ModelErrno(errno.E2BIG, "ITS frame beyond the IPA space")
        others = [other.base for other in device.vm.arch["its"] if other.base is not None]
        if any(abs(base - other) < ITS_SIZE for other in others):
            raise ModelErrno(errno.EINVAL, "ITS frames overlap")
        its.base = base
        return
    if group == GRP_CTRL and attr == CTRL_INIT:
        if its.base is None:
            raise ModelErrno(errno.ENXIO, "ITS frame not placed")
        its.initialized = True
        return
    if group == GRP_CTRL and attr == CTRL_RESET:
        return
    raise ModelErrno(errno.ENXIO, f"ITS attribute group {group} attr {attr} not modelled")


def has_its_attr(group: int, attr: int) -> bool:
    """KVM_HAS_DEVICE_ATTR on an ITS fd (the modelled subset)."""
    return (group, attr) in ((GRP_ADDR, ITS_ADDR_TYPE), (GRP_CTRL, CTRL_INIT),
                             (GRP_CTRL, CTRL_RESET))


def check_its_msi(vm: VmState, address: int, devid: int | None) -> None:
    """KVM_SIGNAL_MSI's rules once ``vm`` has an ITS."""
    if not vm.arch.get("its"):
        return
    frames = [its.base for its in vm.arch["its"] if its.base is not None]
    if devid is None:
        raise ModelErrno(errno.EINVAL, "an MSI to an ITS needs KVM_MSI_VALID_DEVID")
    if not any(address == base + GITS_TRANSLATER for base in frames):
        raise ModelErrno(errno.EINVAL, f"MSI address {address:#x} is no ITS's GITS_TRANSLATER")
