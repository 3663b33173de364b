"""The model of riscv KVM answers with the kernel's errnos."""

from __future__ import annotations

import errno

import pytest

from vmm.core.errors import KvmError
from vmm.core.kvm import ioctls as k
from vmm.plugins.riscv import uapi
from vmm.plugins.riscv.isa import ISA_EXT_ID
from vmm.plugins.riscv.model import RiscvProfile
from vmm.plugins.riscv.registers import isa_ext_id, reg_id, register_id, sbi_ext_id
from vmm.plugins.riscv.uapi import ffi


def _errno(call) -> int:
    with pytest.raises(KvmError) as caught:
        call()
    return caught.value.errno


def test_unknown_isa_extension_is_enoent(riscv_vm):
    fd = riscv_vm().build().vm.vcpus[0].fd
    assert _errno(lambda: fd.get_one_reg(isa_ext_id(500))) == errno.ENOENT
    assert _errno(lambda: fd.set_one_reg(isa_ext_id(500), 0)) == errno.ENOENT
    absent = isa_ext_id(ISA_EXT_ID["zvbb"])
    assert _errno(lambda: fd.get_one_reg(absent)) == errno.ENOENT


def test_undisablable_extension_is_einval(riscv_vm):
    fd = riscv_vm().build().vm.vcpus[0].fd
    assert _errno(lambda: fd.set_one_reg(isa_ext_id(ISA_EXT_ID["zicsr"]), 0)) == errno.EINVAL
    assert _errno(lambda: fd.set_one_reg(isa_ext_id(ISA_EXT_ID["sstc"]), 2)) == errno.EINVAL


def test_isa_changes_after_the_vcpu_ran_are_ebusy(riscv_vm):
    vm = riscv_vm().build()
    fd = vm.vm.vcpus[0].fd
    vm.exit("riscv_sbi", extension_id=0x0800_0000, function_id=0, args=[0x41])
    sstc = isa_ext_id(ISA_EXT_ID["sstc"])
    assert _errno(lambda: fd.set_one_reg(sstc, 0)) == errno.EBUSY
    fd.set_one_reg(sstc, 1)  # no change: allowed
    isa = fd.get_one_reg(register_id("config.isa"))
    assert _errno(lambda: fd.set_one_reg(register_id("config.isa"), isa & ~1)) == errno.EBUSY
    assert _errno(lambda: fd.set_one_reg(sbi_ext_id(uapi.KVM_RISCV_SBI_EXT_DBCN), 0)) == errno.EBUSY
    fd.set_one_reg(register_id("a0"), 5)  # core registers stay writable
    assert fd.get_one_reg(register_id("a0")) == 5


def test_clearing_a_letter_through_config_isa(riscv_vm):
    fd = riscv_vm().build().vm.vcpus[0].fd
    isa = fd.get_one_reg(register_id("config.isa"))
    d_bit = 1 << (ord("d") - ord("a"))
    assert isa & d_bit
    fd.set_one_reg(register_id("config.isa"), isa & ~d_bit)
    assert fd.get_one_reg(isa_ext_id(ISA_EXT_ID["d"])) == 0


def test_read_only_config_and_timer(riscv_vm):
    fd = riscv_vm().build().vm.vcpus[0].fd
    assert fd.get_one_reg(register_id("timer.frequency")) == 10_000_000
    assert _errno(lambda: fd.set_one_reg(register_id("timer.frequency"), 1)) == errno.EINVAL
    assert _errno(lambda: fd.set_one_reg(register_id("config.satp_mode"), 8)) == errno.EINVAL
    assert _errno(lambda: fd.set_one_reg(register_id("mode"), 3)) == errno.EINVAL


def test_wrong_size_or_arch_is_einval(riscv_vm):
    fd = riscv_vm().build().vm.vcpus[0].fd
    u32_pc = reg_id(uapi.KVM_REG_RISCV_CORE, 0, 4)
    assert _errno(lambda: fd.get_one_reg(u32_pc, 4)) == errno.EINVAL
    arm64_reg = 0x6030_0000_0010_0000
    assert _errno(lambda: fd.get_one_reg(arm64_reg)) == errno.EINVAL


def test_a_kvm_without_satp_mode(riscv_vm):
    vm = riscv_vm(profile=RiscvProfile(satp_mode=None)).build()
    fd = vm.vm.vcpus[0].fd
    assert _errno(lambda: fd.get_one_reg(register_id("config.satp_mode"))) == errno.ENOENT


def test_kvm_interrupt_takes_only_set_and_unset(riscv_vm):
    fd = riscv_vm(profile=RiscvProfile(aia=False)).build().vm.vcpus[0].fd
    arg = ffi.new("struct kvm_interrupt *", {"irq": 5})
    assert _errno(lambda: fd.call(uapi.KVM_INTERRUPT, arg)) == errno.EINVAL


# ---------------------------------------------------------------- the AIA device


def _aia(vm):
    return vm.vm.irqchip.device


def _set(device, group: int, attr: int, ctype: str = "uint32_t", value: int | None = 0):
    device.set_attr(group, attr, ffi.new(f"{ctype} *", value) if value is not None else None)


def test_aia_attributes_are_ebusy_after_init(riscv_vm):
    device = _aia(riscv_vm().build())
    assert _errno(lambda: _set(device, uapi.KVM_DEV_RISCV_AIA_GRP_CONFIG,
                               uapi.KVM_DEV_RISCV_AIA_CONFIG_SRCS, value=10)) == errno.EBUSY
    assert _errno(lambda: _set(device, uapi.KVM_DEV_RISCV_AIA_GRP_CTRL,
                               uapi.KVM_DEV_RISCV_AIA_CTRL_INIT, value=None)) == errno.EBUSY


def test_aia_rules_before_init(riscv_vm):
    vm = riscv_vm()
    for stage in ("core", "base"):  # up to the vCPUs, not the dev_base CTRL_INIT
        getattr(vm.vm.hook, f"vmm_{stage}_init")(vm=vm.vm)
    vm.stages.completed.extend(["core", "base"])
    device = _aia(vm)
    config, address = uapi.KVM_DEV_RISCV_AIA_GRP_CONFIG, uapi.KVM_DEV_RISCV_AIA_GRP_ADDR
    init = lambda: _set(device, uapi.KVM_DEV_RISCV_AIA_GRP_CTRL,  # noqa: E731
                        uapi.KVM_DEV_RISCV_AIA_CTRL_INIT, value=None)
    assert _errno(lambda: _set(device, config, uapi.KVM_DEV_RISCV_AIA_CONFIG_SRCS,
                               value=1024)) == errno.EINVAL
    assert _errno(lambda: _set(device, config, uapi.KVM_DEV_RISCV_AIA_CONFIG_IDS,
                               value=100)) == errno.EINVAL
    assert _errno(lambda: _set(device, config, uapi.KVM_DEV_RISCV_AIA_CONFIG_HART_BITS,
                               value=16)) == errno.EINVAL
    assert _errno(lambda: _set(device, config, 9)) == errno.ENXIO
    _set(device, config, uapi.KVM_DEV_RISCV_AIA_CONFIG_SRCS, value=32)
    assert _errno(init) == errno.EINVAL  # sources but no APLIC
    assert _errno(lambda: _set(device, address, uapi.KVM_DEV_RISCV_AIA_ADDR_APLIC,
                               "uint64_t", 0x0C00_0800)) == errno.EINVAL  # unaligned
    _set(device, address, uapi.KVM_DEV_RISCV_AIA_ADDR_APLIC, "uint64_t", 0x0C00_0000)
    assert _errno(init) == errno.EINVAL  # vCPU 0 has no IMSIC
    assert _errno(lambda: _set(device, address, uapi.kvm_dev_riscv_aia_addr_imsic(3),
                               "uint64_t", 0x0800_3000)) == errno.ENXIO  # no vCPU 3
    _set(device, address, uapi.kvm_dev_riscv_aia_addr_imsic(0), "uint64_t", 0x0800_0000)
    init()
    assert vm.backend.system.vms[-1].irqchip


def test_no_second_aia_and_none_without_host_support(riscv_vm):
    vm = riscv_vm().build()
    assert _errno(lambda: vm.vm.vmfd.create_device(uapi.KVM_DEV_TYPE_RISCV_AIA)) == errno.EEXIST
    plain = riscv_vm(profile=RiscvProfile(aia=False), options={"irqchip": "plic"}).build()
    assert _errno(lambda: plain.vm.vmfd.create_device(uapi.KVM_DEV_TYPE_RISCV_AIA)) == errno.ENODEV
    assert plain.vm.vmfd.check_extension(k.KVM_CAP_IRQCHIP) == 0
    assert vm.vm.vmfd.check_extension(k.KVM_CAP_IRQCHIP) == 1
