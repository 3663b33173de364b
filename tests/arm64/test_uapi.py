"""arm64 structs, ioctl numbers and register ids against the kernel's arm64 headers
(Debian's linux-libc-dev-arm64-cross), compiled with the host's gcc."""

from __future__ import annotations

import os

import pytest

from vmm.core.kvm.ioc import Ioctl
from vmm.core.testing import skip_or_fail
from vmm.core.testing.cheaders import compiler_values, layout_expressions, mismatches
from vmm.plugins.arm64 import uapi as u
from vmm.plugins.arm64.registers import REGISTER_IDS, core_reg_id, sysreg_id

CROSS_INCLUDE = "/usr/aarch64-linux-gnu/include"
HEADERS = ["linux/kvm.h"]
STRUCTS = ["struct kvm_regs", "struct user_pt_regs", "struct user_fpsimd_state",
           "struct kvm_vcpu_init", "struct kvm_vcpu_events"]


def arm64_values(expressions):
    if not os.path.exists(f"{CROSS_INCLUDE}/asm/kvm.h"):
        skip_or_fail("arm64 kernel headers missing (Debian package linux-libc-dev-arm64-cross)")
    try:
        return compiler_values(HEADERS, expressions, cflags=[f"-I{CROSS_INCLUDE}"])
    except RuntimeError as error:
        skip_or_fail(f"can't compile against the arm64 headers: {error}")


@pytest.mark.parametrize("ctype", STRUCTS)
def test_struct_layouts_match_the_arm64_headers(ctype):
    expected = layout_expressions(u.ffi, ctype)
    assert mismatches(expected, arm64_values(expected)) == []


def test_vreg_stand_in_has_the_size_and_alignment_of_uint128():
    assert u.ffi.sizeof("union kvm_arm64_vreg") == 16
    assert u.ffi.alignof("union kvm_arm64_vreg") == 16


def test_ioctl_numbers_match_the_arm64_headers():
    numbers = {value.name: value.number for value in vars(u).values() if isinstance(value, Ioctl)}
    assert {"KVM_ARM_VCPU_INIT", "KVM_ARM_PREFERRED_TARGET", "KVM_ARM_VCPU_FINALIZE",
            "KVM_SET_VCPU_EVENTS"} <= set(numbers)
    assert mismatches(numbers, arm64_values(numbers)) == []


def test_constants_match_the_arm64_headers():
    prefixes = ("KVM_CAP_", "KVM_ARM_VCPU_", "KVM_DEV_", "KVM_VGIC_", "KVM_REG_ARM")
    constants = {name: value for name, value in vars(u).items()
                 if name.startswith(prefixes) and isinstance(value, int)
                 and name not in ("KVM_VCPU_MAX_FEATURES",)}
    assert len(constants) > 30
    assert mismatches(constants, arm64_values(constants)) == []


def test_core_register_ids_match_the_kernel_macros():
    expressions = {
        "KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(regs.pc)":
            REGISTER_IDS["pc"],
        "KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(regs.pstate)":
            REGISTER_IDS["pstate"],
        "KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(regs.regs[3])":
            REGISTER_IDS["x3"],
        "KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(spsr[0])":
            REGISTER_IDS["spsr_el1"],
        "KVM_REG_ARM64 | KVM_REG_SIZE_U128 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(fp_regs.vregs[2])":
            core_reg_id("fp_regs", "vregs", 2),
        "KVM_REG_ARM64 | KVM_REG_SIZE_U32 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(fp_regs.fpcr)":
            REGISTER_IDS["fpcr"],
        "ARM64_SYS_REG(3, 0, 0, 0, 5)": REGISTER_IDS["mpidr_el1"],
        "KVM_REG_ARM_TIMER_CTL": sysreg_id(3, 3, 14, 3, 1),
    }
    assert mismatches(expressions, arm64_values(expressions)) == []
