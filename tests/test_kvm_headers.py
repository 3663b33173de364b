"""The core's generic KVM structures and ioctl numbers against the host's <linux/kvm.h>;
private memory (guest_memfd, newer than the host's headers) against the v6.14 uapi
headers of ../shared/cca."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmm.core.kvm import ioctls as k
from vmm.core.kvm.cdefs import ffi
from vmm.core.kvm.ioc import Ioctl
from vmm.core.testing import skip_or_fail
from vmm.core.testing.cheaders import compiler_values, layout_expressions, mismatches

HEADERS = ["linux/kvm.h"]
#: Structures that exist under these names in the kernel's UAPI.
KERNEL_STRUCTS = [
    "struct kvm_userspace_memory_region", "struct kvm_enable_cap", "struct kvm_one_reg",
    "struct kvm_irq_level", "struct kvm_ioeventfd", "struct kvm_irqfd",
    "struct kvm_create_device", "struct kvm_device_attr", "struct kvm_msi", "struct kvm_run",
]


#: Names from Linux 6.8 and later (private memory), checked against a newer uapi.
PRIVATE_MEMORY_STRUCTS = ["struct kvm_userspace_memory_region2", "struct kvm_create_guest_memfd",
                          "struct kvm_memory_attributes"]
PRIVATE_MEMORY_NAMES = ("KVM_SET_USER_MEMORY_REGION2", "KVM_SET_MEMORY_ATTRIBUTES",
                        "KVM_CREATE_GUEST_MEMFD", "KVM_CAP_USER_MEMORY2",
                        "KVM_CAP_MEMORY_ATTRIBUTES", "KVM_CAP_GUEST_MEMFD", "KVM_EXIT_MEMORY_FAULT")
#: The cca-host/v7 (Linux 6.14) uapi headers of the emulated Arm CCA host kit.
KIT_UAPI = Path(__file__).resolve().parents[1] / ".." / "shared" / "cca" / "reference" / "uapi"


def _values(expressions):
    host = {name: value for name, value in expressions.items() if not _newer(name)}
    try:
        return compiler_values(HEADERS, host)
    except RuntimeError as error:
        skip_or_fail(f"no C view of the kernel headers: {error}")


def _newer(expression: str) -> bool:
    """An expression about private memory, which the host's headers don't have."""
    return "memory_fault" in expression or any(name in expression for name in PRIVATE_MEMORY_NAMES)


def _kit_values(expressions, tmp_path: Path):
    """The expressions compiled against the kit's <linux/kvm.h> (with this machine's
    <asm/kvm.h>: the private-memory names are generic, and a stub for the
    kernel-internal <linux/compiler.h> it includes)."""
    header = KIT_UAPI / "linux" / "kvm.h"
    if not header.is_file():
        skip_or_fail(f"{header} (the emulated CCA host kit's uapi) is missing", "VMM_REQUIRE_MODELS")
    (tmp_path / "linux").mkdir()
    (tmp_path / "linux" / "kvm.h").write_bytes(header.read_bytes())
    (tmp_path / "linux" / "compiler.h").write_text("#define __user\n")
    try:
        return compiler_values(HEADERS, expressions, cflags=[f"-I{tmp_path}"])
    except RuntimeError as error:
        skip_or_fail(f"no C view of the kit's headers: {error}")


@pytest.mark.parametrize("ctype", KERNEL_STRUCTS)
def test_generic_struct_layout_matches_the_kernel(ctype):
    expected = {expression: value for expression, value in layout_expressions(ffi, ctype).items()
                if not _newer(expression)}
    assert mismatches(expected, _values(expected)) == []


def test_private_memory_layouts_and_numbers_match_a_newer_kernel(tmp_path):
    expected = {expression: value for ctype in PRIVATE_MEMORY_STRUCTS
                for expression, value in layout_expressions(ffi, ctype).items()}
    expected.update({expression: value for expression, value
                     in layout_expressions(ffi, "struct kvm_run").items() if _newer(expression)})
    expected.update({name: getattr(k, name).number if isinstance(getattr(k, name), Ioctl)
                     else getattr(k, name) for name in PRIVATE_MEMORY_NAMES})
    for name in ("KVM_MEM_GUEST_MEMFD", "KVM_MEMORY_ATTRIBUTE_PRIVATE", "KVM_MEMORY_EXIT_FLAG_PRIVATE"):
        expected[name] = getattr(k, name)
    assert "offsetof(struct kvm_run, memory_fault.gpa)" in expected
    assert mismatches(expected, _kit_values(expected, tmp_path)) == []


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
    numbers = {value.name: value.number for value in vars(k).values()
               if isinstance(value, Ioctl) and not _newer(value.name)}
    assert len(numbers) >= 15
    assert mismatches(numbers, _values(numbers)) == []


def test_generic_constants_match_the_kernel():
    names = [name for name in vars(k) if name.startswith(("KVM_CAP_", "KVM_EXIT_", "KVM_SYSTEM_EVENT_"))
             and not name.startswith("KVM_EXIT_IO_") and not _newer(name)]
    constants = {name: getattr(k, name) for name in names}
    assert mismatches(constants, _values(constants)) == []
