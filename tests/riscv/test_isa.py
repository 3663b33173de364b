"""--disable-<ext>, and the ISA the device tree reports, from the ISA_EXT registers."""

from __future__ import annotations

import pytest

from vmm.core.errors import ConfigError
from vmm.plugins.riscv.isa import ISA_EXT_ID, MULTI_LETTER, CpuFeatures, isa_bitmap_letters
from vmm.plugins.riscv.model import RiscvProfile
from vmm.plugins.riscv.registers import isa_ext_id
from vmm.plugins.riscv.state import RISCV_STATE

from .conftest import vmm


def _set_calls(vm, reg_id: int) -> list[str]:
    return [line for line in vm.ioctl_log() if f"KVM_SET_ONE_REG(id={reg_id:#x})" in line]


def test_disable_sstc_on_every_vcpu(riscv_vm):
    vm = riscv_vm(options={"disable_sstc": True, "disable_svpbmt": True}, cpus=2).build()
    sstc = isa_ext_id(ISA_EXT_ID["sstc"])
    assert [line.split(":")[0] for line in _set_calls(vm, sstc)] == ["vcpu0", "vcpu1"]
    for state in vm.backend.system.vms[-1].vcpus.values():
        assert "sstc" not in state.arch["isa_ext"]
        assert "svpbmt" not in state.arch["isa_ext"]
        assert "zicbom" in state.arch["isa_ext"]
    features = vm.vm.stash[RISCV_STATE].features
    assert "sstc" not in features.extensions and "svpbmt" not in features.extensions
    assert "_sstc" not in features.isa_string


def test_disabling_what_the_host_lacks_does_nothing(riscv_vm):
    vm = riscv_vm(options={"disable_zvbb": True}).build()
    assert _set_calls(vm, isa_ext_id(ISA_EXT_ID["zvbb"])) == []


def test_disabling_what_kvm_cannot_hide_is_a_one_line_error(riscv_vm):
    vm = riscv_vm(options={"disable_zba": True})
    with pytest.raises(ConfigError, match=r"^--disable-zba: KVM can't hide zba"):
        vm.build()


def test_disable_options_are_on_the_command_line():
    result = vmm("run", "--arch", "riscv", "--help")
    assert result.returncode == 0
    for name in ("sstc", "svpbmt", "zicbom", "ssaia"):
        assert f"--disable-{name}" in result.stdout
    assert "--irqchip" in result.stdout and "--dtb-out" in result.stdout


def test_disable_on_the_command_line(kernel_path):
    result = vmm("run", "--arch", "riscv", "--dry-run", "-k", kernel_path, "--disable-sstc")
    assert result.returncode == 0, result.stderr
    assert f"KVM_SET_ONE_REG(id={isa_ext_id(ISA_EXT_ID['sstc']):#x})" in result.stdout


def test_isa_ext_ids_follow_the_kernel_enum():
    assert ISA_EXT_ID["a"] == 0 and ISA_EXT_ID["ssaia"] == 14 and ISA_EXT_ID["v"] == 15
    assert ISA_EXT_ID["zicond"] == 24 and ISA_EXT_ID["zawrs"] == 61
    assert "a" not in MULTI_LETTER and "sstc" in MULTI_LETTER


def _bitmap(letters: str) -> int:
    return sum(1 << (ord(letter) - ord("a")) for letter in letters)


def test_isa_strings():
    features = CpuFeatures(xlen=64, letters=isa_bitmap_letters(_bitmap("vcdami")),
                           extensions=["zicsr", "sstc"], satp_mode=10)
    assert features.letters == ["i", "m", "a", "d", "c", "v"]
    assert features.isa_string == "rv64imadcv_zicsr_sstc"
    assert features.isa_base == "rv64i"
    assert features.isa_extension_list == ["i", "m", "a", "d", "c", "v", "zicsr", "sstc"]
    assert features.mmu_type == "riscv,sv57"
    assert CpuFeatures(xlen=64, letters=[]).mmu_type == "riscv,sv39"


def test_features_follow_the_host_profile(riscv_vm):
    profile = RiscvProfile(extensions=frozenset("a c i m zicsr zifencei".split()), satp_mode=8,
                           timebase_frequency=1_000_000)
    vm = riscv_vm(profile=profile).build()
    features = vm.vm.stash[RISCV_STATE].features
    assert features.isa_string == "rv64imac_zicsr_zifencei"
    assert features.mmu_type == "riscv,sv39"
    assert features.timebase_frequency == 1_000_000
    assert features.zicbom_block_size is None


def test_disable_vector_hides_the_letter(riscv_vm):
    vm = riscv_vm(options={"disable_v": True}).build()
    features = vm.vm.stash[RISCV_STATE].features
    assert "v" not in features.letters
    assert features.isa_string.startswith("rv64imafdc_")
