"""The realm structs as the VMM declares them (cffi) and as the model reads them
(``struct``) agree with each other and with the RFC-v1 UABI's sizes and offsets."""

from __future__ import annotations

import struct

from vmm.plugins.arm64 import uapi as arm64_uapi
from vmm.plugins.arm64.registers import REGISTER_IDS
from vmm.plugins.arm64_realm.model import formats
from vmm.plugins.arm64_realm.rfc_v1.abi import ffi


def test_config_item_is_260_bytes_with_the_union_at_4() -> None:
    item = "struct kvm_cap_arm_rme_config_item"
    assert ffi.sizeof(item) == struct.calcsize(formats.CONFIG_ITEM) == 260
    for field in ("rpv", "hash_algo", "sve_vq", "num_brps", "num_pmu_cntrs", "reserved"):
        assert ffi.offsetof(item, field) == 4
    assert ffi.offsetof(item, "num_wrps") == 8
    assert ffi.alignof(item) == 4


def test_range_args_are_two_u64() -> None:
    for name, fmt in [("struct kvm_cap_arm_rme_init_ipa_args", formats.INIT_IPA_ARGS),
                      ("struct kvm_cap_arm_rme_populate_realm_args", formats.POPULATE_ARGS)]:
        assert ffi.sizeof(name) == struct.calcsize(fmt) == 16


def test_arm64_structs_the_model_decodes() -> None:
    assert ffi.sizeof("struct kvm_vcpu_events") == struct.calcsize(formats.VCPU_EVENTS) == 64
    assert ffi.offsetof("struct kvm_vcpu_events", "exception") == 0
    assert ffi.offsetof("struct kvm_vcpu_events_exception", "ext_dabt_pending") == 2
    assert ffi.sizeof("struct kvm_vcpu_init") == struct.calcsize(formats.VCPU_INIT)
    # The request numbers of uapi §1.6.
    assert arm64_uapi.KVM_SET_VCPU_EVENTS.number == 0x4040AEA0
    assert arm64_uapi.KVM_ARM_VCPU_FINALIZE.number == 0x4004AEC2
    for name, shape in [("KVM_SET_VCPU_EVENTS", formats.KVM_SET_VCPU_EVENTS),
                        ("KVM_ARM_VCPU_FINALIZE", formats.KVM_ARM_VCPU_FINALIZE),
                        ("KVM_ARM_VCPU_INIT", formats.KVM_ARM_VCPU_INIT)]:
        assert (getattr(arm64_uapi, name).number >> 16) & 0x3FFF == shape.size


def test_the_model_names_the_registers_arm64_sets() -> None:
    assert formats.PC_ID == REGISTER_IDS["pc"]
    assert formats.PSTATE_ID == REGISTER_IDS["pstate"]
    assert [formats.gpr_id(n) for n in range(8)] == [REGISTER_IDS[f"x{n}"] for n in range(8)]
