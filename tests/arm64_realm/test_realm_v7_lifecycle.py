"""A realm through the v7 UABI, every plugin against the model of the v7 kernel: the call
order, how the generation is detected or forced, guest_memfd RAM and memory faults,
SVE, the PMU and debug counts as vCPU registers, PSCI_COMPLETE."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import realm_vm
from realm_kvm import fails_with
from realm_v7_kvm import V7Driver
from realm_vm import DTB, RAM_START, build_realm, rme

from vmm.core.errors import ConfigError, GuestError, KvmError
from vmm.core.kvm import ioctls as k
from vmm.plugins.arm64.model import mpidr_of
from vmm.plugins.arm64.registers import REGISTER_IDS
from vmm.plugins.arm64.state import arm64_state
from vmm.plugins.arm64_realm.generation import realm_generation
from vmm.plugins.arm64_realm.model import RmeState, realm_vcpu
from vmm.plugins.arm64_realm.report import modelled_realm
from vmm.plugins.arm64_realm.rmm import RealmParams, RmmProfile
from vmm.plugins.arm64_realm.rmm.realm_params import FLAG_PMU, FLAG_SVE
from vmm.plugins.arm64_realm.state import realm_state
from vmm.plugins.arm64_realm.v7 import calls as v7_calls

LIFECYCLE_CALLS = {"KVM_CREATE_VM", "KVM_ENABLE_CAP", "KVM_CREATE_GUEST_MEMFD",
                   "KVM_SET_USER_MEMORY_REGION", "KVM_SET_USER_MEMORY_REGION2",
                   "KVM_SET_MEMORY_ATTRIBUTES", "KVM_CREATE_VCPU", "KVM_ARM_VCPU_INIT",
                   "KVM_SET_ONE_REG", "KVM_ARM_VCPU_FINALIZE"}


def lifecycle(vm) -> list[str]:
    """The v7 lifecycle calls in order, registers by name."""
    return realm_vm.lifecycle(vm, LIFECYCLE_CALLS)


def test_a_two_vcpu_realm_follows_the_v7_order(vmm_vm, tmp_path: Path) -> None:
    vm = build_realm(vmm_vm, tmp_path, realm_uabi="v7", realm_pv="hello")
    initrd = 0x8FDF_E000
    assert lifecycle(vm) == [
        "kvm: KVM_CREATE_VM(type=0x121)",
        # RAM is private memory from the start
        "vm: KVM_CREATE_GUEST_MEMFD(size=0x10000000)",
        "vm: KVM_SET_USER_MEMORY_REGION2(slot=0 gpa=0x80000000 size=0x10000000 guest_memfd offset=0x0)",
        "vm: KVM_SET_MEMORY_ATTRIBUTES(address=0x80000000 size=0x10000000 attributes=0x8)",
        "vm: KVM_CREATE_VCPU(id=0)",
        "vcpu0: KVM_ARM_VCPU_INIT(target=5 features=0x164)",  # REC (8) | ptrauth | PSCI_0_2
        "vm: KVM_CREATE_VCPU(id=1)",
        "vcpu1: KVM_ARM_VCPU_INIT(target=5 features=0x165)",
        "vcpu0: SET_ONE_REG x1", "vcpu0: SET_ONE_REG x2", "vcpu0: SET_ONE_REG x3",
        "vcpu0: SET_ONE_REG x0", "vcpu0: SET_ONE_REG pc",
        "vcpu1: SET_ONE_REG x1", "vcpu1: SET_ONE_REG x2", "vcpu1: SET_ONE_REG x3",
        # the realm, created from the initialised vCPUs, then each image in load order
        rme("CONFIG_REALM(HASH_ALGO sha256)"),
        rme("CONFIG_REALM(RPV b'hello')"),
        rme("CREATE_REALM"),
        rme(f"INIT_RIPAS_REALM(base={RAM_START:#x} size=0x10000000)"),  # all of RAM
        rme(f"POPULATE_REALM(base={RAM_START:#x} size=0x4000 flags=0x1)"),  # the file, measured
        rme(f"POPULATE_REALM(base={initrd:#x} size=0x2000 flags=0x1)"),
        rme(f"POPULATE_REALM(base={DTB:#x} size=0x10000 flags=0x1)"),  # the 64 KiB window
        "vcpu0: KVM_ARM_VCPU_FINALIZE(feature=REC)",
        "vcpu1: KVM_ARM_VCPU_FINALIZE(feature=REC)",
        rme("ACTIVATE_REALM"),
    ]
    realm = modelled_realm(vm.vm)
    assert realm.state is RmeState.ACTIVE and realm.recs == [0, 1]
    assert realm.recorder.rmm is RmmProfile.REL0
    assert realm_generation(vm.vm).name == "v7"


@pytest.mark.parametrize("kernel, expected", [("v7", "v7"), ("rfc-v1", "rfc-v1")])
def test_the_uabi_is_detected_from_guest_memfd(vmm_vm, tmp_path, kernel: str, expected: str) -> None:
    vm = build_realm(vmm_vm, tmp_path, cpus=1, model_rme=kernel)
    log = vm.ioctl_log()
    assert log.index("kvm: KVM_CHECK_EXTENSION(cap=300)") < log.index("kvm: KVM_CHECK_EXTENSION(cap=234)") \
        < log.index("kvm: KVM_CREATE_VM(type=0x121)")
    assert realm_generation(vm.vm).name == expected
    create = "CREATE_REALM" if expected == "v7" else "CREATE_RD"
    assert any(create in line for line in log)


def test_a_kernel_without_realm_support_is_named(vmm_vm, tmp_path) -> None:
    with pytest.raises(ConfigError, match="^this host kernel has no realm support"):
        build_realm(vmm_vm, tmp_path, cpus=1, model_rme="none")
    with pytest.raises(ConfigError, match="no realm support"):  # forcing a UABI still probes
        build_realm(vmm_vm, tmp_path, cpus=1, model_rme="none", realm_uabi="v7")


def test_forcing_rfc_v1_on_a_v7_kernel_fails_where_the_kernels_differ(vmm_vm, tmp_path) -> None:
    with pytest.raises(KvmError) as raised:
        build_realm(vmm_vm, tmp_path, cpus=1, model_rme="v7", realm_uabi="rfc-v1")
    assert raised.value.errno == errno.ENXIO  # v7 creates a realm from initialised vCPUs only
    assert "KVM_CAP_ARM_RME CREATE_RD" in str(raised.value)


def test_memory_faults_convert_private_and_shared(vmm_vm, tmp_path) -> None:
    vm = build_realm(vmm_vm, tmp_path, cpus=1, realm_uabi="v7")
    private = vm.backend.system.vms[-1].private
    vm.exit("memory_fault", gpa=0x8800_0000, size=0x4000, flags=0)
    assert private.intervals() == [(0x8000_0000, 0x8800_0000), (0x8800_4000, 0x9000_0000)]
    vm.exit("memory_fault", gpa=0x8800_0000, size=0x4000, flags=k.KVM_MEMORY_EXIT_FLAG_PRIVATE)
    assert private.intervals() == [(0x8000_0000, 0x9000_0000)]
    with pytest.raises(GuestError, match="not private guest RAM"):
        vm.exit("memory_fault", gpa=0x1000_0000, size=0x1000, flags=0)


def test_sve_vector_lengths_pmu_and_debug_counts_reach_the_realm_params(vmm_vm, tmp_path) -> None:
    vm = build_realm(vmm_vm, tmp_path, realm_uabi="v7", sve_vl=256, pmu=True,
                     model_host="bps=4,wps=2,pmu_counters=5")
    log = lifecycle(vm)
    # Each vCPU's vector lengths limited to 256 bits, then arm64's FINALIZE(SVE), all
    # before CREATE_REALM reads them.
    assert log.index("vcpu1: SET_ONE_REG 0x606000000015ffff") \
        < log.index("vcpu1: KVM_ARM_VCPU_FINALIZE(feature=4)") < log.index(rme("CREATE_REALM"))
    params = modelled_realm(vm.vm).recorder.plan.realm_params
    assert params == RealmParams(flags=FLAG_SVE | FLAG_PMU, s2sz=33, sve_vl=1, num_bps=3, num_wps=1,
                                 pmu_num_ctrs=5)
    assert b"arm,armv8-pmuv3" in arm64_state(vm.vm).dtb


def test_an_sve_vl_the_host_lacks_is_a_config_error(vmm_vm, tmp_path) -> None:
    with pytest.raises(ConfigError, match="--sve-vl 256: this host's KVM gives vCPUs no SVE"):
        build_realm(vmm_vm, tmp_path, realm_uabi="v7", sve_vl=256, model_host="sve=0")
    driver = V7Driver()
    try:
        vcpu = driver.vcpu(features=1 << 2 | 1 << 8 | 1 << 4)  # PSCI, REC, SVE
        vcpu.set_one_reg(v7_calls.SVE_VLS_ID, 0b1, v7_calls.SVE_VLS_BYTES)
        assert not v7_calls.limit_sve_vector_lengths(vcpu, 2)  # only 128-bit left
    finally:
        driver.close()


def test_all_gprs_and_pc_are_settable_and_sve_lengths_only_before_the_realm(vmm_vm) -> None:
    driver = V7Driver().create()
    try:
        vcpu = driver.vcpus[0]
        for name in ("x0", "x8", "x30", "pc"):
            vcpu.set_one_reg(REGISTER_IDS[name], 0x1234)
        for name in ("pstate", "sp", "sp_el1"):
            with fails_with(errno.EINVAL):
                vcpu.set_one_reg(REGISTER_IDS[name], 0x3C5)
    finally:
        driver.close()


def test_psci_complete_needs_a_rec_and_a_waiting_request() -> None:
    driver = V7Driver()
    try:
        driver.config(1, 0)
        vcpu0 = driver.vcpu()
        driver.vcpu(1 << 2 | 1 << 8 | 1)
        plain = driver.vcpu(1 << 2)
        v7_calls.create_realm(driver.vmfd)
        driver.finalize(0)
        driver.finalize(1)
        with fails_with(errno.EPERM):
            v7_calls.psci_complete(plain, mpidr_of(0), 0)
        with fails_with(errno.EINVAL):  # no vCPU has that MPIDR
            v7_calls.psci_complete(vcpu0, mpidr_of(7), 0)
        with fails_with(errno.EINVAL):  # the RMM waits on no PSCI request of vCPU 0
            v7_calls.psci_complete(vcpu0, mpidr_of(1), 0)
        vcpu_state = driver.backend.system.vms[-1].vcpus[0]
        realm_vcpu(vcpu_state).psci_pending = mpidr_of(1)  # a CPU_ON user space handles
        v7_calls.psci_complete(vcpu0, mpidr_of(1), 0)
        assert realm_vcpu(vcpu_state).psci_pending is None
    finally:
        driver.close()


def test_devices_reach_realm_ram_at_its_unprotected_alias(vmm_vm, tmp_path: Path) -> None:
    """A realm's DMA addresses carry the top IPA bit (the shared alias): a virtqueue
    at such an address is the same RAM, and nothing past RAM is reachable there."""
    vm = build_realm(vmm_vm, tmp_path, realm_uabi="v7").vm
    shared_bit = 1 << (realm_state(vm).ipa_bits - 1)
    assert shared_bit > RAM_START + vm.memory.size
    vm.memory.write(RAM_START | shared_bit, b"bounced")
    assert vm.memory.read(RAM_START, 7) == b"bounced"
    with pytest.raises(GuestError):
        vm.memory.view((RAM_START + vm.memory.size) | shared_bit, 1)


def test_a_v7_realm_refuses_irqfds_so_its_virtio_lines_are_levels(vmm_vm, tmp_path: Path) -> None:
    """As the kit's v7 host does: KVM_IRQFD is EINVAL on a realm VM, so a virtio-mmio
    line is driven as a level and the (measured) device tree says level, not edge."""
    import subprocess

    kernel, initrd = realm_vm.write_images(tmp_path)
    out = tmp_path / "realm.dtb"
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(1 << 20))
    vm = vmm_vm("arm64", kernel=kernel, initrd=initrd, cpus=1, dry_run=True,
                options={"realm": True, "realm_uabi": "v7", "dtb_out": str(out),
                         "disk": [str(disk)]}).build()
    refused = [call for call in vm.backend.log if call.name == "KVM_IRQFD"]
    assert refused and all(call.errno == errno.EINVAL for call in refused)
    dts = subprocess.run(["dtc", "-I", "dtb", "-O", "dts", str(out)], capture_output=True,
                         text=True, check=True).stdout
    assert "interrupts = <0x00 0x01 0x04>;" in dts  # SPI 1, level high
