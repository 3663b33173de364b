"""The model of the v7 kernel answers the 31 cases the kit measured on the real kernel
(../shared/cca/reference/README.md, "Errnos"; ../shared/cca/logs/errnos.log), each
built as the kit's probe builds it, with the errno the real kernel returned."""

from __future__ import annotations

import errno
from collections.abc import Callable

import pytest
from realm_kvm import fails_with
from realm_v7_kvm import PAGE, PSCI, RAM_START, REC, V7Driver

from vmm.plugins.arm64.registers import REGISTER_IDS
from vmm.plugins.arm64_realm import uapi
from vmm.plugins.arm64_realm.model import RmeState

OK = 0


def normal_vm_config(make: Callable[..., V7Driver]) -> None:
    make(realm=False).config(uapi.RME_CFG_HASH_ALGO, 0)


def init_features(features: int) -> Callable:
    def case(make: Callable[..., V7Driver]) -> None:
        driver = make()
        driver.init_vcpu(driver.vcpu(init=False), features)
    return case


def with_plain_slot(then: str) -> Callable:
    def case(make: Callable[..., V7Driver]) -> None:
        driver = make().create()
        driver.plain_slot()
        if then in ("init", "init+populate"):
            driver.init_ripas()
        if then == "init+populate":
            driver.populate()
    return case


def gmem(*steps: str, last: Callable[[V7Driver], None]) -> Callable:
    """Build a realm with a guest_memfd slot, run ``steps`` in order, then ``last``."""
    def case(make: Callable[..., V7Driver]) -> None:
        driver = make().create()
        driver.gmem_slot()
        for step in steps:
            {"init": driver.init_ripas, "populate": driver.populate, "finalize": driver.finalize,
             "activate": driver.activate}[step]()
        last(driver)
    return case


def run_vcpu(driver: V7Driver) -> None:
    driver.vcpus[0].run()


def set_reg(name: str) -> Callable[[V7Driver], None]:
    return lambda driver: driver.vcpus[0].set_one_reg(REGISTER_IDS[name], RAM_START)


CASES: list[tuple[str, Callable, int]] = [
    ("ENABLE_CAP(RME CONFIG) on a normal (non-realm) VM", normal_vm_config, errno.EINVAL),
    ("KVM_CREATE_VM(REALM | 0) (IPA size 0 = default)", lambda make: make(ipa_bits=0), OK),
    ("KVM_CREATE_VM(REALM | 53) (IPA bits above the limit)", lambda make: make(ipa_bits=53), errno.EINVAL),
    ("CONFIG_REALM cfg=2 (RFC-v1 SVE)", lambda make: make().config(2, 0), errno.EINVAL),
    ("CONFIG_REALM cfg=1 HASH_ALGO=SHA512", lambda make: make().config(1, 1), OK),
    ("CREATE_REALM before any vCPU exists",
     lambda make: _create_after(make(), vcpu=None), errno.ENXIO),
    ("CREATE_REALM with a vCPU created but not KVM_ARM_VCPU_INIT'ed",
     lambda make: _create_after(make(), vcpu="uninitialised"), errno.ENXIO),
    ("KVM_ARM_VCPU_INIT on a realm vCPU with PSCI_0_2 only (no REC)", init_features(PSCI), OK),
    ("KVM_ARM_VCPU_INIT with PSCI_0_2 | bit 7 (RFC-v1 REC value)", init_features(PSCI | 1 << 7),
     errno.EINVAL),
    ("KVM_ARM_VCPU_INIT with REC only (no PSCI_0_2)", init_features(REC), OK),
    ("CONFIG_REALM after CREATE_REALM",
     lambda make: make().create().config(uapi.RME_CFG_HASH_ALGO, 0), errno.EBUSY),
    ("CREATE_REALM twice", lambda make: _create_after(make().create(), vcpu="none more"), errno.EEXIST),
    ("KVM_SET_USER_MEMORY_REGION (v1, no guest_memfd) on a realm", with_plain_slot(""), OK),
    ("  ... then INIT_RIPAS_REALM", with_plain_slot("init"), OK),
    ("  ... then INIT_RIPAS_REALM + POPULATE_REALM", with_plain_slot("init+populate"), errno.EINVAL),
    ("INIT_RIPAS_REALM with no memslot", lambda make: make().create().init_ripas(), OK),
    ("POPULATE_REALM with no memslot", lambda make: make().create().populate(), errno.EFAULT),
    ("INIT_RIPAS_REALM base not 4K aligned",
     gmem(last=lambda driver: driver.init_ripas(RAM_START + 0x800, PAGE)), errno.ENXIO),
    ("POPULATE_REALM base not 4K aligned",
     gmem("init", last=lambda driver: driver.populate(RAM_START + 0x800)), errno.EINVAL),
    ("POPULATE_REALM unknown flag (bit 1)",
     gmem("init", last=lambda driver: driver.populate(flags=2)), errno.EINVAL),
    ("POPULATE_REALM without INIT_RIPAS first", gmem(last=lambda driver: driver.populate()), OK),
    ("POPULATE_REALM same page twice",
     gmem("init", "populate", last=lambda driver: driver.populate()), errno.ENXIO),
    ("ACTIVATE_REALM before FINALIZE(REC)",
     gmem("init", "populate", last=lambda driver: driver.activate()), OK),
    ("KVM_RUN before ACTIVATE_REALM (REC finalized)",
     gmem("init", "populate", "finalize", last=run_vcpu), errno.EPERM),
    ("KVM_ARM_VCPU_FINALIZE(REC) twice",
     gmem("init", "populate", "finalize", last=lambda driver: driver.finalize()), errno.EBUSY),
    ("KVM_ARM_VCPU_FINALIZE(REC) before CREATE_REALM",
     lambda make: _finalize_before_create(make()), errno.ENOENT),
    ("KVM_ARM_VCPU_FINALIZE(7) (RFC-v1 REC value)",
     lambda make: make().create().finalize(feature=7), errno.EINVAL),
    ("POPULATE_REALM after ACTIVATE_REALM",
     gmem("init", "populate", "finalize", "activate",
          last=lambda driver: driver.populate(RAM_START + PAGE)), errno.EINVAL),
    ("SET_ONE_REG(pc) after ACTIVATE_REALM",
     gmem("init", "populate", "finalize", "activate", last=set_reg("pc")), OK),
    ("SET_ONE_REG(x30) before ACTIVATE (REC not yet finalized)",
     lambda make: set_reg("x30")(make().create()), OK),
    ("ACTIVATE_REALM twice",
     gmem("init", "populate", "finalize", "activate", last=lambda driver: driver.activate()),
     errno.EINVAL),
]


def _create_after(driver: V7Driver, vcpu: str | None) -> None:
    from vmm.plugins.arm64_realm.v7 import calls as v7_calls

    if vcpu is None or vcpu == "uninitialised":
        driver.config(uapi.RME_CFG_HASH_ALGO, 0)
    if vcpu == "uninitialised":
        driver.vcpu(init=False)
    v7_calls.create_realm(driver.vmfd)


def _finalize_before_create(driver: V7Driver) -> None:
    driver.config(uapi.RME_CFG_HASH_ALGO, 0)
    driver.vcpu()
    driver.finalize()


@pytest.fixture
def make():
    made: list[V7Driver] = []

    def factory(**kwargs) -> V7Driver:
        made.append(V7Driver(**kwargs))
        return made[-1]

    yield factory
    for driver in made:
        driver.close()


def test_the_kit_measured_31_cases() -> None:
    assert len(CASES) == 31


@pytest.mark.parametrize(("name", "case", "expected"), CASES, ids=[name.strip(" .") for name, _, _ in CASES])
def test_v7_errno_as_measured_on_the_kit(make, name: str, case: Callable, expected: int) -> None:
    if expected == OK:
        case(make)
        return
    with fails_with(expected):
        case(make)


def test_a_refused_create_leaves_the_realm_uncreated(make) -> None:
    driver = make()
    with fails_with(errno.ENXIO):  # no initialised vCPU: DFR0 reads 0 breakpoints
        _create_after(driver, vcpu=None)
    assert driver.realm.state is RmeState.NONE and driver.realm.recorder is None
