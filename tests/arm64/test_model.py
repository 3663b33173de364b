"""The arm64 model of KVM answers with the kernel's errnos, from its own decoding."""

from __future__ import annotations

import errno

import pytest

from vmm.core.errors import ConfigError, KvmError
from vmm.core.kvm.fds import Kvm
from vmm.core.model.backend import ModelBackend
from vmm.plugins.arm64 import uapi as u
from vmm.plugins.arm64.model import Arm64Model, core_register_size, mpidr_of
from vmm.plugins.arm64.model_host import ModelHost
from vmm.plugins.arm64.registers import REGISTER_IDS, core_reg_id


def new_kvm(**host) -> Kvm:
    return Kvm(ModelBackend(Arm64Model(ModelHost(**host))))


def init_vcpu(vmfd, vcpu_id: int = 0, features: int = 0, words=None):
    vcpu = vmfd.create_vcpu(vcpu_id)
    init = u.ffi.new("struct kvm_vcpu_init *")
    vmfd.call(u.KVM_ARM_PREFERRED_TARGET, init)
    init.features[0] = features
    for index, word in (words or {}).items():
        init.features[index] = word
    vcpu.call(u.KVM_ARM_VCPU_INIT, init)
    return vcpu


def errno_of(call) -> int:
    with pytest.raises(KvmError) as raised:
        call()
    return raised.value.errno


def test_capabilities_on_system_and_vm_fds():
    kvm = new_kvm(ipa=44, mte=True)
    vmfd = kvm.create_vm(0)
    for fd in (kvm, vmfd):
        assert fd.check_extension(u.KVM_CAP_ARM_VM_IPA_SIZE) == 44
        assert fd.check_extension(u.KVM_CAP_ARM_MTE) == 1
        assert fd.check_extension(u.KVM_CAP_ARM_SVE) == 1


@pytest.mark.parametrize("vm_type, host, code", [
    (0x100, {}, errno.EINVAL),  # unknown type bit
    (0x29, {"ipa": 40}, errno.EINVAL),  # 41 bits > host limit
    (0x1F, {}, errno.EINVAL),  # below 32
    (0x20, {"ipa": 0}, errno.EINVAL),  # no IPA cap: only type 0
])
def test_vm_type_validation(vm_type, host, code):
    assert errno_of(lambda: new_kvm(**host).create_vm(vm_type)) == code


def test_vm_types_accepted():
    kvm = new_kvm(ipa=48)
    for vm_type in (0, 0x20, 0x30):
        kvm.create_vm(vm_type)


def test_unknown_feature_bits_are_refused_like_the_kernel():
    vmfd = new_kvm().create_vm(0)
    # Bit 7 is past KVM_VCPU_MAX_FEATURES (7): the kernel answers ENOENT.
    assert errno_of(lambda: init_vcpu(vmfd, 0, 1 << u.KVM_VCPU_MAX_FEATURES)) == errno.ENOENT
    assert errno_of(lambda: init_vcpu(vmfd, 1, 0, {1: 1})) == errno.ENOENT


def test_wrong_target_and_changed_features_are_einval():
    vmfd = new_kvm().create_vm(0)
    vcpu = vmfd.create_vcpu(0)
    init = u.ffi.new("struct kvm_vcpu_init *", {"target": 3})
    assert errno_of(lambda: vcpu.call(u.KVM_ARM_VCPU_INIT, init)) == errno.EINVAL
    init.target = 5
    vcpu.call(u.KVM_ARM_VCPU_INIT, init)
    init.features[0] = 1 << u.KVM_ARM_VCPU_PSCI_0_2
    assert errno_of(lambda: vcpu.call(u.KVM_ARM_VCPU_INIT, init)) == errno.EINVAL


def test_feature_combinations_the_host_cannot_give():
    vmfd = new_kvm(sve=False, pmu=False).create_vm(0)
    assert errno_of(lambda: init_vcpu(vmfd, 0, 1 << u.KVM_ARM_VCPU_SVE)) == errno.EINVAL
    assert errno_of(lambda: init_vcpu(vmfd, 1, 1 << u.KVM_ARM_VCPU_PMU_V3)) == errno.EINVAL
    assert errno_of(lambda: init_vcpu(vmfd, 2, 1 << u.KVM_ARM_VCPU_PTRAUTH_ADDRESS)) == errno.EINVAL


def test_finalize_rules():
    vmfd = new_kvm().create_vm(0)
    feature = u.ffi.new("int *", u.KVM_ARM_VCPU_SVE)
    plain = init_vcpu(vmfd, 0)
    assert errno_of(lambda: plain.call(u.KVM_ARM_VCPU_FINALIZE, feature)) == errno.EINVAL
    sve = init_vcpu(vmfd, 1, 1 << u.KVM_ARM_VCPU_SVE)
    assert errno_of(sve.run) == errno.EPERM  # not finalized yet
    sve.call(u.KVM_ARM_VCPU_FINALIZE, feature)
    assert errno_of(lambda: sve.call(u.KVM_ARM_VCPU_FINALIZE, feature)) == errno.EPERM
    uninitialised = vmfd.create_vcpu(2)
    assert errno_of(lambda: uninitialised.call(u.KVM_ARM_VCPU_FINALIZE, feature)) == errno.ENOEXEC


def test_one_reg_rules():
    vmfd = new_kvm().create_vm(0)
    fresh = vmfd.create_vcpu(1)
    assert errno_of(lambda: fresh.get_one_reg(REGISTER_IDS["pc"])) == errno.ENOEXEC
    vcpu = init_vcpu(vmfd, 0)
    vcpu.set_one_reg(REGISTER_IDS["x5"], 0x1234)
    assert vcpu.get_one_reg(REGISTER_IDS["x5"]) == 0x1234
    assert vcpu.get_one_reg(REGISTER_IDS["pstate"]) == 0x3C5  # reset value
    assert vcpu.get_one_reg(REGISTER_IDS["mpidr_el1"]) == mpidr_of(0)
    misaligned = REGISTER_IDS["x5"] + 1
    assert errno_of(lambda: vcpu.get_one_reg(misaligned)) == errno.EINVAL
    wrong_size = REGISTER_IDS["fpsr"] | u.KVM_REG_SIZE_U64
    assert errno_of(lambda: vcpu.get_one_reg(wrong_size)) == errno.EINVAL
    assert errno_of(lambda: vcpu.get_one_reg(u.KVM_REG_ARM64 | u.KVM_REG_SIZE_U64 | 0x150000)) == errno.ENOENT


def test_model_core_register_table_agrees_with_cffi():
    for name in ("x0", "x30", "sp", "pc", "pstate", "sp_el1", "elr_el1", "spsr_el1", "fpsr", "fpcr"):
        reg_id = REGISTER_IDS[name]
        size = 1 << ((reg_id >> u.KVM_REG_SIZE_SHIFT) & 0xF)
        assert core_register_size(reg_id & 0xFFFF) == size, name
    assert core_register_size(core_reg_id("fp_regs", "vregs", 31) & 0xFFFF) == 16


def test_mpidr_affinity_layout():
    assert mpidr_of(0) == 0x8000_0000
    assert mpidr_of(17) == 0x8000_0101


def test_vgic_rules():
    vmfd = new_kvm(gicv2=False).create_vm(0)
    assert errno_of(lambda: vmfd.create_device(u.KVM_DEV_TYPE_ARM_VGIC_V2)) == errno.ENODEV
    gic = vmfd.create_device(u.KVM_DEV_TYPE_ARM_VGIC_V3)
    assert errno_of(lambda: vmfd.create_device(u.KVM_DEV_TYPE_ARM_VGIC_V3)) == errno.EEXIST
    dist = u.ffi.new("uint64_t *", 0x3FFF_0000)
    misaligned = u.ffi.new("uint64_t *", 0x3FFF_1000)
    assert errno_of(lambda: gic.set_attr(u.KVM_DEV_ARM_VGIC_GRP_ADDR, u.KVM_VGIC_V3_ADDR_TYPE_DIST,
                                         misaligned)) == errno.EINVAL
    assert errno_of(lambda: gic.set_attr(u.KVM_DEV_ARM_VGIC_GRP_ADDR, u.KVM_VGIC_V2_ADDR_TYPE_CPU,
                                         dist)) == errno.ENODEV
    init = (u.KVM_DEV_ARM_VGIC_GRP_CTRL, u.KVM_DEV_ARM_VGIC_CTRL_INIT)
    assert errno_of(lambda: gic.set_attr(*init)) == errno.ENXIO  # frames not placed
    gic.set_attr(u.KVM_DEV_ARM_VGIC_GRP_ADDR, u.KVM_VGIC_V3_ADDR_TYPE_DIST, dist)
    gic.set_attr(u.KVM_DEV_ARM_VGIC_GRP_ADDR, u.KVM_VGIC_V3_ADDR_TYPE_REDIST,
                 u.ffi.new("uint64_t *", 0x3FFD_0000))
    bad_count = u.ffi.new("uint32_t *", 100)
    assert errno_of(lambda: gic.set_attr(u.KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, bad_count)) == errno.EINVAL
    assert gic.has_attr(*init)
    gic.set_attr(*init)
    assert errno_of(lambda: vmfd.create_vcpu(0)) == errno.EBUSY


def test_pmu_init_needs_an_initialised_vgic():
    from vmm.plugins.arm64.vcpu import set_vcpu_attr

    vmfd = new_kvm().create_vm(0)
    vmfd.create_device(u.KVM_DEV_TYPE_ARM_VGIC_V3)
    vcpu = init_vcpu(vmfd, 0, 1 << u.KVM_ARM_VCPU_PMU_V3)
    set_vcpu_attr(vcpu, u.KVM_ARM_VCPU_PMU_V3_CTRL, u.KVM_ARM_VCPU_PMU_V3_IRQ, u.ffi.new("int *", 23))
    code = errno_of(lambda: set_vcpu_attr(vcpu, u.KVM_ARM_VCPU_PMU_V3_CTRL, u.KVM_ARM_VCPU_PMU_V3_INIT))
    assert code == errno.ENODEV
    assert errno_of(vcpu.run) == errno.EINVAL  # PMU requested but not initialised


def test_pvtime_address_must_be_in_a_memslot_and_aligned():
    from vmm.plugins.arm64.vcpu import set_vcpu_attr

    vmfd = new_kvm().create_vm(0)
    vcpu = init_vcpu(vmfd, 0)
    group, attr = u.KVM_ARM_VCPU_PVTIME_CTRL, u.KVM_ARM_VCPU_PVTIME_IPA
    assert errno_of(lambda: set_vcpu_attr(vcpu, group, attr, u.ffi.new("uint64_t *", 0x1020000))) \
        == errno.EINVAL
    assert errno_of(lambda: set_vcpu_attr(vcpu, group, attr, u.ffi.new("uint64_t *", 0x1020008))) \
        == errno.EINVAL


def test_mte_must_be_enabled_before_vcpus():
    vmfd = new_kvm(mte=True).create_vm(0)
    vmfd.create_vcpu(0)
    assert errno_of(lambda: vmfd.enable_cap(u.KVM_CAP_ARM_MTE)) == errno.EINVAL


def test_vcpu_events_set_external_abort():
    vmfd = new_kvm().create_vm(0)
    vcpu = init_vcpu(vmfd, 0)
    events = u.ffi.new("struct kvm_vcpu_events *")
    events.exception.ext_dabt_pending = 1
    vcpu.call(u.KVM_SET_VCPU_EVENTS, events)
    events.reserved[3] = 1
    assert errno_of(lambda: vcpu.call(u.KVM_SET_VCPU_EVENTS, events)) == errno.EINVAL


def test_model_host_parsing():
    assert ModelHost.parse("ipa=36, sve=0,gicv2=1") == ModelHost(ipa=36, sve=False, gicv2=True)
    with pytest.raises(ConfigError, match="key=value"):
        ModelHost.parse("bogus=1")
    with pytest.raises(ConfigError, match="wants a number"):
        ModelHost.parse("sve=yes")


def test_debug_and_pmu_counts_come_from_the_modelled_host():
    kvm = new_kvm(bps=16, wps=2, pmu_counters=3)
    assert kvm.check_extension(119) == 16 and kvm.check_extension(120) == 2  # GUEST_DEBUG_HW_*
    vmfd = kvm.create_vm(0)
    vcpu = init_vcpu(vmfd, 0, 1 << u.KVM_ARM_VCPU_PMU_V3)
    dfr0 = vcpu.get_one_reg(0x603000000013C028)  # ID_AA64DFR0_EL1
    assert (dfr0 >> 12 & 0xF, dfr0 >> 20 & 0xF) == (15, 1)  # BRPs, WRPs: count - 1
    assert vcpu.get_one_reg(0x603000000013DCE0) >> 11 & 0x1F == 3  # PMCR_EL0.N


SVE_VLS = 0x606000000015FFFF


def test_sve_vector_lengths_register_rules():
    vmfd = new_kvm().create_vm(0)
    plain = init_vcpu(vmfd, 0)
    assert errno_of(lambda: plain.get_one_reg(SVE_VLS, 64)) == errno.ENOENT
    vcpu = init_vcpu(vmfd, 1, 1 << u.KVM_ARM_VCPU_SVE)
    assert vcpu.get_one_reg(SVE_VLS, 64) == 0xFFFF  # VQ 1..16
    vcpu.set_one_reg(SVE_VLS, 0b111, 64)  # up to 384-bit vectors
    assert errno_of(lambda: vcpu.set_one_reg(SVE_VLS, 0b101, 64)) == errno.EINVAL  # a gap
    vcpu.call(u.KVM_ARM_VCPU_FINALIZE, u.ffi.new("int *", u.KVM_ARM_VCPU_SVE))
    assert errno_of(lambda: vcpu.set_one_reg(SVE_VLS, 0b1, 64)) == errno.EPERM
