"""The model of KVM's AIA device (arch/riscv/kvm/aia_device.c): attributes and init.

CONFIG values are 32-bit, ADDR values 64-bit; the device can't be created once a
vCPU ran; everything is refused with EBUSY once CTRL_INIT succeeded, and CTRL_INIT
checks what the kernel checks: the sources fit the MSI ids, the APLIC is placed when there are sources, every vCPU's
IMSIC is placed and all of them follow one base with the hart index bits.
"""

from __future__ import annotations

import errno
from typing import Any

from vmm.core.model.base import ModelErrno
from vmm.core.model.decode import UserMemory
from vmm.core.model.state import DeviceState, VmState

DEV_TYPE_RISCV_AIA = 11
GRP_CONFIG, GRP_ADDR, GRP_CTRL = 0, 1, 2
CONFIG_NAMES = ("mode", "ids", "srcs", "group_bits", "group_shift", "hart_bits", "guest_bits")
ADDR_APLIC = 0
CTRL_INIT = 0
IDS_MIN, IDS_MAX, SRCS_MAX = 63, 2048, 1024
HART_BITS_MAX, GUEST_BITS_MAX, GROUP_BITS_MAX = 16, 8, 8
GROUP_SHIFT_MIN, GROUP_SHIFT_MAX = 24, 56
MODES = (0, 1, 2)  # emul, hwaccel, auto
PAGE = 0x1000
IMSIC_PAGE_SHIFT = 12


class AiaDeviceModel:
    """Mixed into the riscv ArchModel: KVM_CREATE_DEVICE(RISCV_AIA) and its attrs."""

    profile: Any

    def create_device(self, vm: VmState, device_type: int, flags: int) -> DeviceState:
        """Create the AIA (ENODEV without one on the host, EEXIST for a second)."""
        if device_type != DEV_TYPE_RISCV_AIA or not self.profile.aia:
            raise ModelErrno(errno.ENODEV, f"device type {device_type} not available")
        if vm.arch.get("aia") is not None:
            raise ModelErrno(errno.EEXIST, "the AIA exists")
        if any(vcpu.runs for vcpu in vm.vcpus.values()):
            raise ModelErrno(errno.EBUSY, "a vCPU already ran")
        device = DeviceState(vm, device_type)
        device.arch.update(
            config={"mode": self.profile.aia_mode, "ids": self.profile.aia_nr_ids, "srcs": 0,
                    "group_bits": 0, "group_shift": GROUP_SHIFT_MIN, "hart_bits": 0,
                    "guest_bits": 0},
            aplic=None, imsic={}, initialized=False,
        )
        vm.arch["aia"] = device
        return device

    # ------------------------------------------------------------ attributes

    def on_set_device_attr(self, device: DeviceState, arg: int) -> tuple[int, str]:
        """KVM_SET_DEVICE_ATTR on the AIA."""
        _, group, attr, addr = UserMemory.unpack("<IIQQ", arg)
        if group == GRP_CTRL:
            if attr != CTRL_INIT:
                raise ModelErrno(errno.ENXIO, f"AIA control {attr}")
            self._aia_init(device)
            return 0, "CTRL_INIT"
        if device.arch["initialized"]:
            raise ModelErrno(errno.EBUSY, "the AIA is initialized")
        if group == GRP_CONFIG:
            (value,) = UserMemory.unpack("<I", addr)
            self._aia_set_config(device, attr, value)
            return 0, f"{CONFIG_NAMES[attr]}={value}"
        if group == GRP_ADDR:
            (value,) = UserMemory.unpack("<Q", addr)
            self._aia_set_addr(device, attr, value)
            return 0, f"addr[{attr}]={value:#x}"
        raise ModelErrno(errno.ENXIO, f"AIA group {group}")

    def on_kvm_get_device_attr(self, device: DeviceState, arg: int) -> tuple[int, str]:
        """KVM_GET_DEVICE_ATTR: CONFIG values and placed addresses."""
        _, group, attr, addr = UserMemory.unpack("<IIQQ", arg)
        if group == GRP_CONFIG and attr < len(CONFIG_NAMES):
            value = device.arch["config"][CONFIG_NAMES[attr]]
            UserMemory.write(addr, value.to_bytes(4, "little"))
            return 0, f"{CONFIG_NAMES[attr]} -> {value}"
        if group == GRP_ADDR:
            placed = device.arch["aplic"] if attr == ADDR_APLIC else device.arch["imsic"].get(attr - 1)
            if placed is None:
                raise ModelErrno(errno.EINVAL, f"address {attr} not set")
            UserMemory.write(addr, placed.to_bytes(8, "little"))
            return 0, f"addr[{attr}] -> {placed:#x}"
        raise ModelErrno(errno.ENXIO, f"AIA group {group} attr {attr}")

    def on_has_device_attr(self, device: DeviceState, arg: int) -> int:
        """KVM_HAS_DEVICE_ATTR: the groups and attributes above."""
        _, group, attr, _ = UserMemory.unpack("<IIQQ", arg)
        known = ((group == GRP_CONFIG and attr < len(CONFIG_NAMES))
                 or group == GRP_ADDR or (group == GRP_CTRL and attr == CTRL_INIT))
        if not known:
            raise ModelErrno(errno.ENXIO, f"AIA group {group} attr {attr}")
        return 0

    # ------------------------------------------------------------ rules

    def _aia_set_config(self, device: DeviceState, attr: int, value: int) -> None:
        if attr >= len(CONFIG_NAMES):
            raise ModelErrno(errno.ENXIO, f"AIA config {attr}")
        name = CONFIG_NAMES[attr]
        valid = {
            "mode": value in MODES,
            "ids": IDS_MIN <= value < IDS_MAX and value & IDS_MIN == IDS_MIN
            and value <= self.profile.aia_nr_ids,
            "srcs": value < SRCS_MAX and value < self.profile.aia_nr_ids + 1,
            "group_bits": value < GROUP_BITS_MAX,
            "group_shift": GROUP_SHIFT_MIN <= value < GROUP_SHIFT_MAX,
            "hart_bits": value < HART_BITS_MAX,
            "guest_bits": value < GUEST_BITS_MAX,
        }[name]
        if not valid:
            raise ModelErrno(errno.EINVAL, f"AIA {name} {value}")
        device.arch["config"][name] = value

    @staticmethod
    def _aia_set_addr(device: DeviceState, attr: int, value: int) -> None:
        if value % PAGE:
            raise ModelErrno(errno.EINVAL, f"address {value:#x} not page aligned")
        if attr == ADDR_APLIC:
            device.arch["aplic"] = value
            return
        vcpu_id = attr - 1
        if vcpu_id not in device.vm.vcpus:
            raise ModelErrno(errno.ENXIO, f"IMSIC of vCPU {vcpu_id}, which doesn't exist")
        device.arch["imsic"][vcpu_id] = value

    @staticmethod
    def _aia_init(device: DeviceState) -> None:
        state, vm = device.arch, device.vm
        config = state["config"]
        if state["initialized"]:
            raise ModelErrno(errno.EBUSY, "the AIA is initialized")
        if config["srcs"] > config["ids"]:
            raise ModelErrno(errno.EINVAL, "more sources than MSI ids")
        if config["srcs"] and state["aplic"] is None:
            raise ModelErrno(errno.EINVAL, "the APLIC has no address")
        hart_shift = IMSIC_PAGE_SHIFT + config["guest_bits"]
        hart_mask = ((1 << config["hart_bits"]) - 1) << hart_shift
        bases = set()
        for vcpu_id in vm.vcpus:
            address = state["imsic"].get(vcpu_id)
            if address is None:
                raise ModelErrno(errno.EINVAL, f"vCPU {vcpu_id}'s IMSIC has no address")
            bases.add(address & ~hart_mask)
        if len(bases) > 1:
            raise ModelErrno(errno.EINVAL, "IMSIC addresses don't share one base")
        state["initialized"] = True
        vm.irqchip = True
