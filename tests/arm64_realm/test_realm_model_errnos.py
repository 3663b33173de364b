"""The model of the RFC-v1 kernel answers every out-of-order realm call with its errno."""

from __future__ import annotations

import errno

import pytest
from realm_kvm import PSCI, RAM_START, REALM_33_BITS, RealmDriver, fails_with

from vmm.core.kvm import ioctls as k
from vmm.plugins.arm64 import uapi as arm64_uapi
from vmm.plugins.arm64_realm import uapi
from vmm.plugins.arm64_realm.calls import AbortInjector
from vmm.plugins.arm64_realm.model import RmeState
from vmm.plugins.arm64_realm.rfc_v1 import calls as kvm_calls
from vmm.plugins.arm64_realm.rfc_v1 import uapi as v1
from vmm.plugins.arm64_realm.rfc_v1.abi import ffi

PAGE = 0x1000


@pytest.fixture
def driver():
    made: list[RealmDriver] = []

    def make(vm_type: int = REALM_33_BITS, **kwargs) -> RealmDriver:
        made.append(RealmDriver(vm_type, **kwargs))
        return made[-1]

    yield make
    for item in made:
        item.close()


def raw_rme(vmfd, command: int, pointer: int = 0, flags: int = 0) -> None:
    """KVM_ENABLE_CAP(KVM_CAP_ARM_RME) with a raw pointer argument."""
    cap = ffi.new("struct kvm_enable_cap *")
    cap.cap = uapi.KVM_CAP_ARM_RME
    cap.flags = flags
    cap.args[0] = command
    cap.args[1] = pointer
    vmfd.call(k.KVM_ENABLE_CAP, cap)


def config_item(vmfd, cfg: int, value: int = 0) -> None:
    item = ffi.new("struct kvm_cap_arm_rme_config_item *")
    item.cfg = cfg
    item.hash_algo = value  # the union's first word
    raw_rme(vmfd, uapi.RME_CONFIG_REALM, int(ffi.cast("uintptr_t", item)))


# ------------------------------------------------------------------ VM type, caps


@pytest.mark.parametrize("vm_type", [0x200 | 33, 0x1000 | 33, uapi.KVM_VM_TYPE_ARM_REALM | 49,
                                     uapi.KVM_VM_TYPE_ARM_REALM | 31])
def test_bad_machine_types_are_einval(driver, vm_type: int) -> None:
    with fails_with(errno.EINVAL):
        driver(vm_type)


def test_a_realm_vm_fd_hides_stolen_time_and_reports_the_rmm_sve(driver) -> None:
    realm, normal = driver(), driver(33)
    assert realm.vmfd.check_extension(uapi.KVM_CAP_STEAL_TIME) == 0
    assert normal.vmfd.check_extension(uapi.KVM_CAP_STEAL_TIME) == 1
    assert realm.vmfd.check_extension(uapi.KVM_CAP_ARM_SVE) == int(realm.model.features.sve)
    assert realm.kvm.check_extension(uapi.KVM_CAP_ARM_RME) == 1


# ------------------------------------------------------------------ KVM_CAP_ARM_RME


def test_rme_on_a_normal_vm_gives_the_rfc_v1_errnos(driver) -> None:
    """The RFC-v1 kernel runs the sub-commands on any VM: a normal VM is a realm whose
    descriptor was never created (state NONE), so CONFIG passes its checks, CREATE_RD
    finds no realm (EEXIST; EBUSY once a vCPU exists) and the rest need state NEW."""
    normal = driver(33)
    config_item(normal.vmfd, uapi.RME_CFG_HASH_ALGO, 1)  # accepted (and ignored)
    with fails_with(errno.EINVAL):  # still checked: an unsupported algorithm
        config_item(normal.vmfd, uapi.RME_CFG_HASH_ALGO, 7)
    with fails_with(errno.EEXIST):
        raw_rme(normal.vmfd, v1.RME_CREATE_RD)
    args = ffi.new("struct kvm_cap_arm_rme_init_ipa_args *", {"init_ipa_base": RAM_START,
                                                              "init_ipa_size": PAGE})
    for command in (v1.RME_INIT_IPA_REALM, uapi.RME_POPULATE_REALM):
        with fails_with(errno.EBUSY):
            raw_rme(normal.vmfd, command, int(ffi.cast("uintptr_t", args)))
    with fails_with(errno.EBUSY):
        raw_rme(normal.vmfd, uapi.RME_ACTIVATE_REALM)
    with fails_with(errno.EINVAL):
        raw_rme(normal.vmfd, 5)
    normal.vcpu()
    with fails_with(errno.EBUSY):
        raw_rme(normal.vmfd, v1.RME_CREATE_RD)


def test_unknown_command_and_flags_are_einval(driver) -> None:
    realm = driver()
    with fails_with(errno.EINVAL):
        raw_rme(realm.vmfd, 5)
    with fails_with(errno.EINVAL):
        raw_rme(realm.vmfd, v1.RME_CREATE_RD, flags=1)
    assert realm.realm.state is RmeState.NONE


@pytest.mark.parametrize(
    ("cfg", "value"),
    [(v1.RME_CFG_DBG, 0), (v1.RME_CFG_PMU, 0), (9, 0), (uapi.RME_CFG_HASH_ALGO, 2),
     (v1.RME_CFG_SVE, 16)],
)
def test_refused_config_items_are_einval(driver, cfg: int, value: int) -> None:
    realm = driver()
    with fails_with(errno.EINVAL):
        config_item(realm.vmfd, cfg, value)


def test_config_with_a_bad_pointer_is_efault(driver) -> None:
    with fails_with(errno.EFAULT):
        raw_rme(driver().vmfd, uapi.RME_CONFIG_REALM, 0)


def test_config_after_create_rd_is_ebusy(driver) -> None:
    realm = driver().create()
    with fails_with(errno.EBUSY):
        config_item(realm.vmfd, uapi.RME_CFG_HASH_ALGO, 1)


def test_create_rd_twice_is_eexist(driver) -> None:
    realm = driver().create()
    with fails_with(errno.EEXIST):
        kvm_calls.create_realm_descriptor(realm.vmfd)


def test_create_rd_after_a_vcpu_is_ebusy(driver) -> None:
    realm = driver()
    realm.vcpu()
    with fails_with(errno.EBUSY):
        kvm_calls.create_realm_descriptor(realm.vmfd)
    assert realm.realm.state is RmeState.NONE


@pytest.mark.parametrize("call", [
    lambda vmfd: kvm_calls.init_ipa_realm(vmfd, RAM_START, PAGE),
    lambda vmfd: kvm_calls.populate_realm(vmfd, RAM_START, PAGE),
    kvm_calls.activate_realm,
])
def test_init_ipa_populate_and_activate_need_state_new(driver, call) -> None:
    before = driver()
    with fails_with(errno.EBUSY):
        call(before.vmfd)
    after = driver().create()
    kvm_calls.activate_realm(after.vmfd)
    with fails_with(errno.EBUSY):
        call(after.vmfd)


def test_init_ipa_range_rules(driver) -> None:
    realm = driver().create()
    with fails_with(errno.EINVAL):
        kvm_calls.init_ipa_realm(realm.vmfd, RAM_START, (1 << 64) - RAM_START)
    with fails_with(errno.ENXIO):
        kvm_calls.init_ipa_realm(realm.vmfd, RAM_START + 0x10, PAGE)
    with fails_with(errno.ENXIO):  # the unprotected half of a 33-bit IPA space
        kvm_calls.init_ipa_realm(realm.vmfd, 1 << 32, PAGE)
    kvm_calls.init_ipa_realm(realm.vmfd, RAM_START, 0)  # nothing to do
    kvm_calls.init_ipa_realm(realm.vmfd, RAM_START, PAGE + 1)  # no alignment check
    assert [op.ipa for op in realm.realm.recorder.plan.ops] == [RAM_START, RAM_START + PAGE]


def test_populate_range_rules(driver) -> None:
    realm = driver().create()
    with fails_with(errno.EINVAL):
        kvm_calls.populate_realm(realm.vmfd, RAM_START + 0x800, PAGE)
    with fails_with(errno.EINVAL):
        kvm_calls.populate_realm(realm.vmfd, RAM_START, 0x800)
    with fails_with(errno.EFAULT):
        kvm_calls.populate_realm(realm.vmfd, 0x4000_0000, PAGE)
    with fails_with(errno.EINVAL):
        kvm_calls.populate_realm(realm.vmfd, RAM_START + (4 << 20) - PAGE, 2 * PAGE)
    kvm_calls.populate_realm(realm.vmfd, RAM_START + PAGE, PAGE)
    with fails_with(errno.ENXIO):  # the RMM takes a granule's contents once
        kvm_calls.populate_realm(realm.vmfd, RAM_START, 2 * PAGE)
    # The kernel populates page by page: the page before the refused one is in.
    assert realm.realm.rtt.is_assigned(RAM_START) and realm.realm.rtt.is_assigned(RAM_START + PAGE)


# ------------------------------------------------------------------ vCPUs and RECs


def test_finalize_rec_rules(driver) -> None:
    normal = driver(33)
    with fails_with(errno.EINVAL):
        kvm_calls.finalize_rec(normal.vcpu())
    realm = driver()
    uninitialised = realm.vmfd.create_vcpu(0)
    with fails_with(errno.ENOEXEC):
        kvm_calls.finalize_rec(uninitialised)
    uninitialised.close()
    realm = driver()
    vcpu0 = realm.vcpu()
    with fails_with(errno.ENOENT):  # no realm descriptor yet
        kvm_calls.finalize_rec(vcpu0)
    realm = driver().create()
    no_psci = realm.vcpu(features=0)
    with fails_with(errno.EINVAL):
        kvm_calls.finalize_rec(no_psci)


def test_recs_are_created_once_in_ascending_mpidr_order(driver) -> None:
    realm = driver().create()
    vcpu0, vcpu1 = realm.vcpu(), realm.vcpu(PSCI | 1)
    with fails_with(errno.ENXIO):
        kvm_calls.finalize_rec(vcpu1)
    kvm_calls.finalize_rec(vcpu0)
    with fails_with(errno.ENXIO):  # a second REC 0: the RMM wants REC 1 next
        kvm_calls.finalize_rec(vcpu0)
    kvm_calls.finalize_rec(vcpu1)
    assert realm.realm.recs == [0, 1]
    kvm_calls.activate_realm(realm.vmfd)
    late = driver().create()
    vcpu = late.vcpu()
    kvm_calls.activate_realm(late.vmfd)
    with fails_with(errno.ENOENT):
        kvm_calls.finalize_rec(vcpu)


def test_only_x0_to_x7_and_pc_can_be_set_on_a_realm_vcpu(driver) -> None:
    realm = driver().create()
    vcpu = realm.vcpu()
    for name in ("x0", "x7", "pc"):
        realm.set_reg(vcpu, name, 0x1234)
    for name in ("pstate", "x8", "sp", "sp_el1"):
        with fails_with(errno.EINVAL):
            realm.set_reg(vcpu, name, 0x3C5)
    normal = driver(33)
    normal.set_reg(normal.vcpu(), "pstate", 0x3C5)


def test_kvm_run_needs_the_rec_and_an_active_realm(driver) -> None:
    realm = driver().create()
    vcpu0, vcpu1 = realm.vcpu(), realm.vcpu(PSCI | 1)
    kvm_calls.finalize_rec(vcpu0)
    with fails_with(errno.EPERM):
        vcpu0.run()
    kvm_calls.activate_realm(realm.vmfd)
    with fails_with(errno.EPERM):  # never got its REC
        vcpu1.run()
    assert vcpu0.run().reason == k.KVM_EXIT_SYSTEM_EVENT


def test_an_sea_is_accepted_only_after_an_mmio_exit(driver) -> None:
    realm = driver().create()
    vcpu = realm.vcpu()
    kvm_calls.finalize_rec(vcpu)
    kvm_calls.activate_realm(realm.vmfd)
    injector = AbortInjector(vcpu)
    with fails_with(errno.EINVAL):  # nothing ran yet
        injector.inject()
    realm.backend.queue_exit(0, "mmio", addr=0x9000_0000, size=4, is_write=True)
    assert vcpu.run().reason == k.KVM_EXIT_MMIO
    injector.inject()
    serror = arm64_uapi.ffi.new("struct kvm_vcpu_events *")
    serror.exception.serror_pending = 1
    with fails_with(errno.EINVAL):
        vcpu.call(arm64_uapi.KVM_SET_VCPU_EVENTS, serror)
    assert vcpu.run().reason == k.KVM_EXIT_SYSTEM_EVENT
    with fails_with(errno.EINVAL):  # the last exit was not MMIO
        injector.inject()
