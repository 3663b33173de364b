"""The realm lifecycle through every plugin, against the model: the RFC-v1 call order."""

from __future__ import annotations

from pathlib import Path

import pytest
import realm_vm
from realm_vm import DTB, RAM_START, build_realm, rme

from vmm.core.errors import ConfigError
from vmm.core.testing import skip_or_fail
from vmm.core.testing.images import arm64_image
from vmm.plugins.arm64.state import arm64_state
from vmm.plugins.arm64_realm.model import RmeState, realm_vcpu
from vmm.plugins.arm64_realm.report import modelled_realm
from vmm.plugins.arm64_realm.runtime import REGISTERS_INACCESSIBLE
from vmm.plugins.arm64_realm.state import realm_state

#: The calls the RFC-v1 order is about (uapi §5's "complete order").
LIFECYCLE_CALLS = {"KVM_CREATE_VM", "KVM_ENABLE_CAP", "KVM_CREATE_DEVICE",
                   "KVM_SET_USER_MEMORY_REGION", "KVM_CREATE_VCPU", "KVM_ARM_VCPU_INIT",
                   "KVM_SET_ONE_REG", "KVM_ARM_VCPU_FINALIZE"}


def lifecycle(vm) -> list[str]:
    """The lifecycle calls in order, registers by name, vCPU init details left out."""
    return realm_vm.lifecycle(vm, LIFECYCLE_CALLS, terse=("KVM_ARM_VCPU_INIT", "KVM_CREATE_DEVICE"))


def test_two_vcpu_realm_with_kernel_initrd_and_rpv_follows_rfc_v1(vmm_vm, tmp_path: Path) -> None:
    vm = build_realm(vmm_vm, tmp_path, realm_pv="hello")
    initrd = 0x8FDF_E000  # the initrd's first page: 5000 bytes just below the DTB
    assert lifecycle(vm) == [
        "kvm: KVM_CREATE_VM(type=0x121)",  # realm | (32 + 1) IPA bits
        rme("CONFIG_REALM(HASH_ALGO sha256)"),
        rme("CONFIG_REALM(RPV b'hello')"),
        rme("CREATE_RD"),
        "vm: KVM_CREATE_DEVICE",  # arm64's vGIC, after the realm descriptor
        "vm: KVM_SET_USER_MEMORY_REGION(slot=0 gpa=0x80000000 size=0x10000000)",
        rme(f"INIT_IPA_REALM(base={RAM_START:#x} size=0x10000)"),  # the header's image_size
        rme(f"POPULATE_REALM(base={RAM_START:#x} size=0x4000)"),  # the file's pages
        rme(f"INIT_IPA_REALM(base={initrd:#x} size=0x2000)"),
        rme(f"POPULATE_REALM(base={initrd:#x} size=0x2000)"),
        "vm: KVM_CREATE_VCPU(id=0)",
        "vcpu0: KVM_ARM_VCPU_INIT",
        "vm: KVM_CREATE_VCPU(id=1)",
        "vcpu1: KVM_ARM_VCPU_INIT",
        rme(f"INIT_IPA_REALM(base={DTB:#x} size=0x10000)"),  # the 64 KiB DTB window
        rme(f"POPULATE_REALM(base={DTB:#x} size=0x10000)"),
        # each vCPU reset in MPIDR order as kvmtool's reset_vcpu (no PSTATE for a
        # realm: x1..x3 = 0 for all, x0 and pc for the boot vCPU), then its REC
        "vcpu0: SET_ONE_REG x1",
        "vcpu0: SET_ONE_REG x2",
        "vcpu0: SET_ONE_REG x3",
        "vcpu0: SET_ONE_REG x0",
        "vcpu0: SET_ONE_REG pc",
        "vcpu0: KVM_ARM_VCPU_FINALIZE(feature=REC)",
        "vcpu1: SET_ONE_REG x1",
        "vcpu1: SET_ONE_REG x2",
        "vcpu1: SET_ONE_REG x3",
        "vcpu1: KVM_ARM_VCPU_FINALIZE(feature=REC)",
        rme("ACTIVATE_REALM"),
    ]
    realm = modelled_realm(vm.vm)
    assert realm.state is RmeState.ACTIVE and realm.recs == [0, 1]
    assert realm_state(vm.vm).active


def test_sve_vl_configures_the_realm_and_finalizes_sve_before_the_rec(vmm_vm, tmp_path) -> None:
    vm = build_realm(vmm_vm, tmp_path, initrd=False, sve_vl=512, measurement_algo="sha512")
    calls = lifecycle(vm)
    assert calls[1:4] == [rme("CONFIG_REALM(HASH_ALGO sha512)"), rme("CONFIG_REALM(SVE vq=3)"),
                          rme("CREATE_RD")]
    finalizes = [call for call in calls if "FINALIZE" in call]
    assert finalizes == ["vcpu0: KVM_ARM_VCPU_FINALIZE(feature=4)",
                         "vcpu0: KVM_ARM_VCPU_FINALIZE(feature=REC)",
                         "vcpu1: KVM_ARM_VCPU_FINALIZE(feature=4)",
                         "vcpu1: KVM_ARM_VCPU_FINALIZE(feature=REC)"]


def test_sve_is_off_without_a_vl(vmm_vm, tmp_path) -> None:
    vm = build_realm(vmm_vm, tmp_path, cpus=1)
    assert not arm64_state(vm.vm).sve_enabled
    assert not any("SVE" in call or "feature=4" in call for call in lifecycle(vm))


def test_a_realm_hides_pvtime_and_uses_smc_for_psci(vmm_vm, tmp_path) -> None:
    vm = build_realm(vmm_vm, tmp_path, cpus=1)
    state = arm64_state(vm.vm)
    assert not state.pvtime_enabled  # KVM_CAP_STEAL_TIME is 0 on a realm VM fd
    assert b"smc\0" in state.dtb and b"hvc\0" not in state.dtb
    assert vm.vm.hook.vmm_psci_method(vm=vm.vm) == "smc"


def test_registers_are_not_dumped(vmm_vm, tmp_path) -> None:
    vm = build_realm(vmm_vm, tmp_path, cpus=1)
    before = len(vm.backend.log)
    assert vm.vm.hook.vmm_register_dump(vcpu=vm.vm.vcpus[0]) == REGISTERS_INACCESSIBLE
    assert len(vm.backend.log) == before, "no register was read"


def test_virtio_devices_must_use_the_platform_dma_api(vmm_vm, tmp_path) -> None:
    vm = build_realm(vmm_vm, tmp_path, cpus=1)
    features = vm.vm.hook.vmm_virtio_host_features(vm=vm.vm, device=None)
    assert 1 << 33 in features


def test_an_unclaimed_mmio_access_injects_an_sea(vmm_vm, tmp_path) -> None:
    vm = build_realm(vmm_vm, tmp_path, cpus=1)
    vm.exit("mmio", addr=0x3000_0000, size=4, is_write=False)
    vm.exit("mmio", addr=0x3000_0000, size=4, is_write=True, data=b"\1\0\0\0")
    state = vm.backend.system.vms[-1].vcpus[0]
    assert realm_vcpu(state).aborts_injected == 2
    assert vm.ioctl_names().count("KVM_SET_VCPU_EVENTS") == 2


def test_realm_ram_is_locked_on_fault(vmm_vm, tmp_path) -> None:
    vm = build_realm(vmm_vm, tmp_path, cpus=1, dry_run=False)
    state = realm_state(vm.vm)
    if state.lock_failure:
        skip_or_fail(f"this host can't lock the RAM: {state.lock_failure}")
    start = vm.vm.memory.regions[0].host_addr
    assert {"lo", "lf"} <= vma_flags(start), "locked, on fault (MLOCK_ONFAULT)"
    assert "mg" not in vma_flags(start), "never offered to KSM"


def test_a_dry_run_locks_no_realm_ram(vmm_vm, tmp_path) -> None:
    """Before: a dry run mlocked realm RAM (and raised RLIMIT_MEMLOCK)."""
    vm = build_realm(vmm_vm, tmp_path, cpus=1)
    start = vm.vm.memory.regions[0].host_addr
    assert "lo" not in vma_flags(start)
    assert "a dry run locks no host memory" in realm_state(vm.vm).lock_failure


def vma_flags(address: int) -> set[str]:
    """The VmFlags of this process's mapping that starts at ``address``."""
    inside = False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            if "-" in line.split()[0] and not line.startswith("VmFlags"):
                inside = int(line.split("-")[0], 16) == address
            elif inside and line.startswith("VmFlags:"):
                return set(line.split()[1:])
    raise AssertionError(f"no mapping at {address:#x}")


def test_the_doubled_ipa_size_must_fit_the_host(vmm_vm, tmp_path) -> None:
    vm = vmm_vm("arm64", kernel=arm64_image(), options={"realm": True, "model_host": "ipa=32"})
    with pytest.raises(ConfigError, match="a realm needs 33 IPA bits .* KVM allows 32"):
        vm.build()


def test_a_normal_arm64_vm_is_unchanged(vmm_vm) -> None:
    vm = vmm_vm("arm64", kernel=arm64_image(), cpus=1).build()
    assert "kvm: KVM_CREATE_VM(type=0x20)" in vm.ioctl_log()
    assert not any("cap=300" in call for call in vm.ioctl_log())
    assert vm.vm.hook.vmm_psci_method(vm=vm.vm) == "hvc"
    assert vm.vm.hook.vmm_register_dump(vcpu=vm.vm.vcpus[0]) != REGISTERS_INACCESSIBLE
    assert realm_state(vm.vm) is None


def test_firmware_is_populated_in_place_of_a_kernel(vmm_vm, tmp_path: Path) -> None:
    firmware = tmp_path / "firmware.bin"
    firmware.write_bytes(b"\x33" * 0x1801)
    vm = vmm_vm("arm64", firmware=str(firmware), options={"realm": True}, cpus=1).build()
    dtb = 0x8020_0000  # 2 MiB aligned after the firmware
    realm_calls = [call for call in lifecycle(vm) if "cap=300" in call]
    assert realm_calls[2:] == [
        rme(f"INIT_IPA_REALM(base={RAM_START:#x} size=0x2000)"),  # no header: its own pages
        rme(f"POPULATE_REALM(base={RAM_START:#x} size=0x2000)"),
        rme(f"INIT_IPA_REALM(base={dtb:#x} size=0x10000)"),
        rme(f"POPULATE_REALM(base={dtb:#x} size=0x10000)"),
        rme("ACTIVATE_REALM"),
    ]
    rec = modelled_realm(vm.vm).recorder.plan.ops[-1]
    assert (rec.runnable, rec.pc, rec.gprs[0]) == (True, RAM_START, dtb)
