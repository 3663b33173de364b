"""The core's generic KVM structures and ioctl numbers against the host's <linux/kvm.h>."""

from __future__ import annotations

import pytest

from vmm.core.testing import skip_or_fail
from vmm.core.kvm import ioctls as k
from vmm.core.kvm.cdefs import ffi
from vmm.core.kvm.ioc import Ioctl
from vmm.core.testing.cheaders import compiler_values, layout_expressions, mismatches

HEADERS = ["linux/kvm.h"]
#: Structures that exist under these names in the kernel's UAPI.
KERNEL_STRUCTS = [
    "struct kvm_userspace_memory_region", "struct kvm_enable_cap", "struct kvm_one_reg",
    "struct kvm_irq_level", "struct kvm_ioeventfd", "struct kvm_irqfd",
    "struct kvm_create_device", "struct kvm_device_attr", "struct kvm_msi", "struct kvm_run",
]


def _values(expressions):
    try:
        return compiler_values(HEADERS, expressions)
    except RuntimeError as error:
        skip_or_fail(f"no C view of the kernel headers: {error}")


@pytest.mark.parametrize("ctype", KERNEL_STRUCTS)
def test_generic_struct_layout_matches_the_kernel(ctype):
    expected = layout_expressions(ffi, ctype)
    assert mismatches(expected, _values(expected)) == []


def test_nested_fields_are_checked_too():
    expected = layout_expressions(ffi, "struct kvm_run")
    assert "offsetof(struct kvm_run, io.port)" in expected
    assert "offsetof(struct kvm_run, system_event.data)" in expected


def test_a_wrong_layout_is_reported():
    expected = layout_expressions(ffi, "struct kvm_irqfd")
    expected["offsetof(struct kvm_irqfd, gsi)"] += 4
    problems = mismatches(expected, _values(expected))
    assert problems == ["offsetof(struct kvm_irqfd, gsi): cffi says 8, the C headers say 4"]


def test_generic_ioctl_numbers_match_the_kernel():
    numbers = {value.name: value.number for value in vars(k).values() if isinstance(value, Ioctl)}
    assert len(numbers) >= 15
    assert mismatches(numbers, _values(numbers)) == []


def test_generic_constants_match_the_kernel():
    names = [name for name in vars(k) if name.startswith(("KVM_CAP_", "KVM_EXIT_", "KVM_SYSTEM_EVENT_"))
             and not name.startswith("KVM_EXIT_IO_")]
    constants = {name: getattr(k, name) for name in names}
    assert mismatches(constants, _values(constants)) == []
