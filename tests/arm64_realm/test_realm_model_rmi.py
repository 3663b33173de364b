"""The model turns the RFC-v1 realm ioctls into the RMI operations the kernel issues."""

from __future__ import annotations

import dataclasses

import pytest
from realm_kvm import PSCI, RAM_START, RealmDriver

from vmm.plugins.arm64_realm import uapi
from vmm.plugins.arm64_realm.rfc_v1 import calls as kvm_calls
from vmm.plugins.arm64_realm.rmm import (
    DataOp,
    HashAlgorithm,
    RecOp,
    RipasBlockOp,
    RmmProfile,
    measure,
)

PAGE = 0x1000
DTB = 0x8FE0_0000
#: B1.5 of the worked vectors (beta0, SHA-256): create, RIPAS level 2, DATA 0xAA, two RECs.
B1_5_SHA256 = "6d5f38df0316b120c853eac5835022297e1760ebf4ca4d226ff8133bd938f25f"
#: A 35-bit realm starts its RTT at level 1, so RFC-v1's INIT_IPA may use level-2 blocks.
REALM_35_BITS = uapi.KVM_VM_TYPE_ARM_REALM | 35


@pytest.fixture
def realm_run():
    """Build a 2-vCPU 35-bit realm: 2 MiB of RIPAS RAM, one page of 0xAA, vCPU 0 booting."""
    made: list[RealmDriver] = []

    def run(**settings) -> RealmDriver:
        driver = RealmDriver(REALM_35_BITS)
        made.append(driver)
        driver.create(**settings)
        kvm_calls.init_ipa_realm(driver.vmfd, RAM_START, 2 << 20)
        driver.memory.write(RAM_START, b"\xaa" * PAGE)
        kvm_calls.populate_realm(driver.vmfd, RAM_START, PAGE)
        vcpu0, vcpu1 = driver.vcpu(), driver.vcpu(PSCI | 1)
        driver.set_reg(vcpu0, "x0", DTB)
        driver.set_reg(vcpu0, "pc", RAM_START)
        kvm_calls.finalize_rec(vcpu0)
        kvm_calls.finalize_rec(vcpu1)
        kvm_calls.activate_realm(driver.vmfd)
        return driver

    yield run
    for driver in made:
        driver.close()


def recs() -> list[RecOp]:
    return [RecOp(True, RAM_START, (DTB,) + (0,) * 7), RecOp(False, 0, (0,) * 8)]


def test_beta0_ops_follow_the_rfc_v1_kernel(realm_run) -> None:
    plan = realm_run().realm.recorder.plan
    assert plan.rmm is RmmProfile.BETA0
    assert plan.realm_params.hash_algo is HashAlgorithm.SHA256
    assert plan.realm_params.s2sz == 35
    assert list(plan.ops) == [
        RipasBlockOp(RAM_START, 2),  # INIT_IPA: one 2 MiB block
        RipasBlockOp(RAM_START, 3),  # POPULATE: RIPAS of the page, then its data
        DataOp(RAM_START, True, content=b"\xaa" * PAGE),
        *recs(),
    ]
    # Without POPULATE's level-3 RIPAS, the plan is the worked vector B1.5.
    vector = dataclasses.replace(plan, ops=plan.ops[:1] + plan.ops[2:])
    assert measure(vector).hex() == B1_5_SHA256


def test_a_33_bit_realm_gets_level_3_ripas_only() -> None:
    """find_map_level is never coarser than the starting level + 1: level 3 at 33 bits."""
    driver = RealmDriver()
    try:
        driver.create()
        kvm_calls.init_ipa_realm(driver.vmfd, RAM_START, 2 << 20)
        ops = driver.realm.recorder.plan.ops
        assert ops == tuple(RipasBlockOp(RAM_START + page * PAGE, 3) for page in range(512))
    finally:
        driver.close()


def test_the_rpv_is_not_measured(realm_run) -> None:
    plain = realm_run().realm.recorder.measure()
    personal = realm_run(rpv=b"x" * 64).realm.recorder.measure()
    assert plain == personal


def test_the_page_is_read_from_the_memslot_when_populated(realm_run) -> None:
    first = realm_run().realm.recorder.measure()
    driver = RealmDriver(REALM_35_BITS)
    try:
        driver.create()
        kvm_calls.init_ipa_realm(driver.vmfd, RAM_START, 2 << 20)
        driver.memory.write(RAM_START, b"\xab" + b"\xaa" * (PAGE - 1))
        kvm_calls.populate_realm(driver.vmfd, RAM_START, PAGE)
        content = driver.realm.recorder.plan.ops[-1].content
        assert content[:2] == b"\xab\xaa"
    finally:
        driver.close()
    assert first != driver.realm.recorder.measure()
