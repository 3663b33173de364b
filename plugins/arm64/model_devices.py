"""The model's arm64 devices: the vGIC device fd, vCPU attributes (PMU, stolen time)
and KVM_SET/GET_VCPU_EVENTS, as arch/arm64/kvm/vgic/vgic-kvm-device.c, pmu-emul.c,
pvtime.c and guest.c answer them.
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass, field

from vmm.core.model.base import ModelErrno
from vmm.core.model.decode import UserMemory, ior, iow
from vmm.core.model.state import DeviceState, VcpuState, VmState

from . import model_its

DEV_VGIC_V2, DEV_VGIC_V3 = 5, 7
GRP_ADDR, GRP_NR_IRQS, GRP_CTRL = 0, 3, 4
CTRL_INIT = 0
V2_DIST, V2_CPU, V3_DIST, V3_REDIST = 0, 1, 2, 3
#: (address type -> (frame size, alignment)) per vGIC model.
ADDRESS_TYPES = {
    DEV_VGIC_V2: {V2_DIST: (0x1000, 0x1000), V2_CPU: (0x2000, 0x1000)},
    DEV_VGIC_V3: {V3_DIST: (0x10000, 0x10000), V3_REDIST: (0x20000, 0x10000)},
}
NR_IRQS_MIN, NR_IRQS_MAX, NR_IRQS_GRANULE = 64, 1024, 32

VCPU_PMU_CTRL, PMU_IRQ, PMU_INIT = 0, 0, 1
VCPU_PVTIME_CTRL, PVTIME_IPA = 2, 0
PVTIME_ALIGN = 64
FEATURE_PMU_V3 = 3
PPI_FIRST = 16

ATTR_FORMAT = "<IIQQ"
EVENTS_FORMAT = "<BBB5sQ12I"


@dataclass
class VgicModel:
    """The modelled vGIC of a VM."""

    device_type: int
    addresses: dict[int, int] = field(default_factory=dict)
    nr_irqs: int = 0
    initialized: bool = False


class DeviceModelMixin:
    """vGIC and vCPU-attribute handlers mixed into the arm64 model."""

    vcpu_device_ioctls = {
        0x9F: ior("KVM_GET_VCPU_EVENTS", EVENTS_FORMAT),
        0xA0: iow("KVM_SET_VCPU_EVENTS", EVENTS_FORMAT),
        0xE1: iow("KVM_SET_DEVICE_ATTR", ATTR_FORMAT),
        0xE2: iow("KVM_GET_DEVICE_ATTR", ATTR_FORMAT),
        0xE3: iow("KVM_HAS_DEVICE_ATTR", ATTR_FORMAT),
    }

    # ------------------------------------------------------------------ vGIC

    def create_device(self, vm: VmState, device_type: int, flags: int) -> DeviceState:
        """KVM_CREATE_DEVICE: one vGIC of a model the host has."""
        host = self.host  # type: ignore[attr-defined]
        if device_type == model_its.DEV_VGIC_ITS:
            return model_its.create_its(vm, host.gicv3 and host.its)
        offered = {DEV_VGIC_V3: host.gicv3, DEV_VGIC_V2: host.gicv2}
        if not offered.get(device_type, False):
            raise ModelErrno(errno.ENODEV, f"device type {device_type} not available")
        if vm.arch.get("vgic") is not None:
            raise ModelErrno(errno.EEXIST, "the VM already has a vGIC")
        if any(vcpu.runs for vcpu in vm.vcpus.values()):
            raise ModelErrno(errno.EBUSY, "a vCPU has already run")
        vm.arch["vgic"] = VgicModel(device_type)
        device = DeviceState(vm, device_type)
        device.arch["vgic"] = vm.arch["vgic"]
        return device

    def check_msi(self, vm: VmState, address: int, devid: int | None) -> None:
        """KVM_SIGNAL_MSI: an ITS, if the VM has one, wants the DeviceID."""
        model_its.check_its_msi(vm, address, devid)

    def on_set_device_attr(self, device: DeviceState, arg: int) -> int:
        _, group, attr, addr = UserMemory.unpack(ATTR_FORMAT, arg)
        if device.device_type == model_its.DEV_VGIC_ITS:
            model_its.set_its_attr(device, group, attr, addr)
            return 0
        vgic: VgicModel = device.arch["vgic"]
        if group == GRP_ADDR:
            frames = ADDRESS_TYPES[vgic.device_type]
            if attr not in frames:
                raise ModelErrno(errno.ENODEV, f"address type {attr} not of this vGIC")
            (base,) = struct.unpack("<Q", UserMemory.read(addr, 8))
            size, align = frames[attr]
            if vgic.initialized:
                raise ModelErrno(errno.EBUSY, "vGIC already initialised")
            if attr in vgic.addresses:
                raise ModelErrno(errno.EEXIST, "address already set")
            if base % align:
                raise ModelErrno(errno.EINVAL, f"address {base:#x} misaligned")
            if base + size > 1 << device.vm.arch["ipa_bits"]:
                raise ModelErrno(errno.E2BIG, "address beyond the IPA space")
            vgic.addresses[attr] = base
            return 0
        if group == GRP_NR_IRQS:
            (count,) = struct.unpack("<I", UserMemory.read(addr, 4))
            if count < NR_IRQS_MIN or count > NR_IRQS_MAX or count % NR_IRQS_GRANULE:
                raise ModelErrno(errno.EINVAL, f"bad number of IRQs {count}")
            if vgic.initialized or vgic.nr_irqs:
                raise ModelErrno(errno.EBUSY, "number of IRQs already fixed")
            vgic.nr_irqs = count
            return 0
        if group == GRP_CTRL and attr == CTRL_INIT:
            if vgic.initialized:
                return 0
            if len(vgic.addresses) != len(ADDRESS_TYPES[vgic.device_type]):
                raise ModelErrno(errno.ENXIO, "vGIC frames not placed")
            vgic.initialized = True
            return 0
        raise ModelErrno(errno.ENXIO, f"vGIC attribute group {group} attr {attr} unknown")

    def on_has_device_attr(self, device: DeviceState, arg: int) -> int:
        _, group, attr, _ = UserMemory.unpack(ATTR_FORMAT, arg)
        vgic: VgicModel | None = device.arch.get("vgic")
        known = model_its.has_its_attr(group, attr) if vgic is None else (
            (group == GRP_ADDR and attr in ADDRESS_TYPES[vgic.device_type])
            or group == GRP_NR_IRQS
            or (group == GRP_CTRL and attr == CTRL_INIT)
        )
        if not known:
            raise ModelErrno(errno.ENXIO, "attribute unknown")
        return 0

    # ------------------------------------------------------------------ vCPU attributes

    def _vcpu_attr_known(self, vcpu: VcpuState, group: int, attr: int) -> bool:
        has_pmu = bool(vcpu.arch["features"] >> FEATURE_PMU_V3 & 1)
        if group == VCPU_PMU_CTRL:
            return has_pmu and attr in (PMU_IRQ, PMU_INIT)
        if group == VCPU_PVTIME_CTRL:
            return self.host.steal_time and attr == PVTIME_IPA  # type: ignore[attr-defined]
        return False

    def on_kvm_has_device_attr(self, vcpu: VcpuState, arg: int) -> tuple[int, str]:
        _, group, attr, _ = UserMemory.unpack(ATTR_FORMAT, arg)
        if not isinstance(vcpu, VcpuState) or not self._vcpu_attr_known(vcpu, group, attr):
            raise ModelErrno(errno.ENXIO, "attribute unknown")
        return 0, f"group={group} attr={attr}"

    def on_kvm_get_device_attr(self, state: object, arg: int) -> int:
        raise ModelErrno(errno.ENXIO, "attribute not readable in the model")

    def on_kvm_set_device_attr(self, vcpu: VcpuState, arg: int) -> tuple[int, str]:
        _, group, attr, addr = UserMemory.unpack(ATTR_FORMAT, arg)
        detail = f"group={group} attr={attr}"
        if not self._vcpu_attr_known(vcpu, group, attr):
            raise ModelErrno(errno.ENXIO, "attribute unknown")
        vgic = vcpu.vm.arch.get("vgic")
        if group == VCPU_PMU_CTRL and attr == PMU_IRQ:
            (irq,) = struct.unpack("<i", UserMemory.read(addr, 4))
            if vgic is None:
                raise ModelErrno(errno.ENODEV, "no in-kernel irqchip")
            if irq < PPI_FIRST:  # neither a PPI nor an SPI
                raise ModelErrno(errno.EINVAL, f"PMU interrupt {irq} is neither PPI nor SPI")
            if vcpu.arch["pmu_irq"] is not None:
                raise ModelErrno(errno.EBUSY, "PMU interrupt already set")
            vcpu.arch["pmu_irq"] = irq
            return 0, f"{detail} irq={irq}"
        if group == VCPU_PMU_CTRL:
            if vgic is None or not vgic.initialized:
                raise ModelErrno(errno.ENODEV, "PMU init before the vGIC is initialised")
            if vcpu.arch["pmu_irq"] is None:
                raise ModelErrno(errno.ENXIO, "PMU interrupt not set")
            if vcpu.arch["pmu_ready"]:
                raise ModelErrno(errno.EBUSY, "PMU already initialised")
            vcpu.arch["pmu_ready"] = True
            return 0, detail
        (ipa,) = struct.unpack("<Q", UserMemory.read(addr, 8))
        if ipa % PVTIME_ALIGN:
            raise ModelErrno(errno.EINVAL, f"stolen-time address {ipa:#x} misaligned")
        if vcpu.arch["pvtime_ipa"] is not None:
            raise ModelErrno(errno.EEXIST, "stolen-time address already set")
        if vcpu.vm.memslot_for(ipa, PVTIME_ALIGN) is None:
            raise ModelErrno(errno.EINVAL, f"stolen-time address {ipa:#x} not in a memslot")
        vcpu.arch["pvtime_ipa"] = ipa
        return 0, f"{detail} ipa={ipa:#x}"

    # ------------------------------------------------------------------ vCPU events

    def on_kvm_set_vcpu_events(self, vcpu: VcpuState, arg: int) -> tuple[int, str]:
        serror, has_esr, ext_dabt, pad, esr, *reserved = UserMemory.unpack(EVENTS_FORMAT, arg)
        if any(pad) or any(reserved):
            raise ModelErrno(errno.EINVAL, "padding or reserved fields not zero")
        if has_esr and not self.host.ras:  # type: ignore[attr-defined]
            raise ModelErrno(errno.EINVAL, "no RAS extension: the SError syndrome can't be set")
        if ext_dabt:
            vcpu.arch["pending_sea"] += 1
        return 0, f"serror={serror} ext_dabt={ext_dabt}"

    def on_kvm_get_vcpu_events(self, vcpu: VcpuState, arg: int) -> int:
        UserMemory.write(arg, struct.pack(EVENTS_FORMAT, 0, 0, 0, bytes(5), 0, *[0] * 12))
        return 0
