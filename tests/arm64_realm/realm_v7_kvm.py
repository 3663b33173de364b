"""A VM driven call by call against the model of the v7 kernel (no plugin manager).

The steps mirror the kit's reference probes (../shared/cca/reference): RAM at
0x8000_0000, a 40-bit realm, vCPU 0 initialised with PSCI_0_2 and REC. The calls go
through the realm plugin's own v7 VMM-side functions (``v7.calls``) where they
exist, so the encoder and the model check each other.
"""

from __future__ import annotations

import mmap
from typing import Any

from vmm.core.kvm import ioctls as k
from vmm.core.kvm.fds import Kvm, VcpuFd
from vmm.core.memory import map_anonymous
from vmm.core.model.backend import ModelBackend
from vmm.plugins.arm64 import uapi as arm64_uapi
from vmm.plugins.arm64.model import Arm64Model
from vmm.plugins.arm64.model_host import ModelHost
from vmm.plugins.arm64_realm import calls, uapi
from vmm.plugins.arm64_realm.model import RealmModel, RealmVm
from vmm.plugins.arm64_realm.v7 import calls as v7_calls
from vmm.plugins.arm64_realm.v7 import uapi as v7
from vmm.plugins.arm64_realm.v7.abi import ffi

RAM_START = 0x8000_0000
RAM_SIZE = 2 << 20
PAGE = 0x1000
IPA_BITS = 40
PSCI = 1 << arm64_uapi.KVM_ARM_VCPU_PSCI_0_2
REC = 1 << v7.KVM_ARM_VCPU_REC


class V7Driver:
    """One VM on a fresh model of the v7 kernel."""

    def __init__(self, realm: bool = True, ipa_bits: int = IPA_BITS, host: ModelHost | None = None) -> None:
        self.model = RealmModel(Arm64Model(host), generation="v7")
        self.backend = ModelBackend(self.model)
        self.kvm = Kvm(self.backend)
        self.vmfd = self.kvm.create_vm((uapi.KVM_VM_TYPE_ARM_REALM if realm else 0) | ipa_bits)
        self.vcpus: list[VcpuFd] = []
        self.keep: list[Any] = []

    @property
    def realm(self) -> RealmVm:
        return self.model.realms[-1]

    def config(self, cfg: int, value: int = 0) -> None:
        """CONFIG_REALM with a raw item (the union's first word set to ``value``)."""
        item = ffi.new("struct arm_rme_config *", {"cfg": cfg})
        item.hash_algo = value
        calls.enable_rme(self.vmfd, ffi, uapi.RME_CONFIG_REALM, item, "CONFIG_REALM")

    def vcpu(self, features: int = PSCI | REC, init: bool = True) -> VcpuFd:
        """KVM_CREATE_VCPU (next id) and, if ``init``, KVM_ARM_VCPU_INIT with ``features``."""
        fd = self.vmfd.create_vcpu(len(self.vcpus))
        self.vcpus.append(fd)
        if init:
            self.init_vcpu(fd, features)
        return fd

    def init_vcpu(self, fd: VcpuFd, features: int) -> None:
        init = arm64_uapi.ffi.new("struct kvm_vcpu_init *")
        self.vmfd.call(arm64_uapi.KVM_ARM_PREFERRED_TARGET, init)
        init.features[0] = features
        fd.call(arm64_uapi.KVM_ARM_VCPU_INIT, init)

    def create(self) -> V7Driver:
        """CONFIG_REALM(HASH_ALGO SHA256), a vCPU, CREATE_REALM (the probes' ``staged``)."""
        self.config(uapi.RME_CFG_HASH_ALGO, uapi.RME_MEASUREMENT_ALGO_SHA256)
        self.vcpu()
        v7_calls.create_realm(self.vmfd)
        return self

    def _ram(self) -> int:
        mapping, address = map_anonymous(RAM_SIZE)
        self.keep.append(mapping)
        return address

    def gmem_slot(self, content: bytes = b"\x11" * 32) -> mmap.mmap:
        """A guest_memfd memslot over the RAM, private, with ``content`` at its start."""
        address = self._ram()
        self.keep[-1][: len(content)] = content
        gmem = self.vmfd.create_guest_memfd(RAM_SIZE)
        self.vmfd.set_user_memory_region2(0, RAM_START, RAM_SIZE, address, gmem)
        self.vmfd.set_memory_attributes(RAM_START, RAM_SIZE, k.KVM_MEMORY_ATTRIBUTE_PRIVATE)
        return self.keep[-1]

    def plain_slot(self) -> None:
        """A KVM_SET_USER_MEMORY_REGION memslot (no guest_memfd)."""
        self.vmfd.set_user_memory_region(0, RAM_START, RAM_SIZE, self._ram())

    def init_ripas(self, base: int = RAM_START, size: int = RAM_SIZE) -> None:
        v7_calls.init_ripas_realm(self.vmfd, base, size)

    def populate(self, base: int = RAM_START, size: int = PAGE, flags: int = 1) -> None:
        args = ffi.new("struct arm_rme_populate_realm *", {"base": base, "size": size, "flags": flags})
        calls.enable_rme(self.vmfd, ffi, uapi.RME_POPULATE_REALM, args, "POPULATE_REALM")

    def finalize(self, vcpu: int = 0, feature: int = v7.KVM_ARM_VCPU_REC) -> None:
        calls.finalize_rec(self.vcpus[vcpu], ffi, feature)

    def activate(self) -> None:
        v7_calls.activate_realm(self.vmfd)

    def close(self) -> None:
        for fd in self.vcpus:
            fd.close()
        self.vmfd.close()
        self.kvm.close()
