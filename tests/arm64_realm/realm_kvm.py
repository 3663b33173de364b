"""A realm VM driven call by call against the model of KVM (no plugin manager).

The calls go through the realm plugin's own VMM-side functions (``kvm_calls``), so
these tests check the encoder and the model against each other.
"""

from __future__ import annotations

import errno
from contextlib import contextmanager

import pytest

from vmm.core.errors import KvmError
from vmm.core.kvm.fds import Kvm, VcpuFd
from vmm.core.memory import GuestMemory
from vmm.core.model.backend import ModelBackend
from vmm.plugins.arm64 import uapi as arm64_uapi
from vmm.plugins.arm64.model import Arm64Model
from vmm.plugins.arm64.registers import REGISTER_IDS
from vmm.plugins.arm64_realm import uapi
from vmm.plugins.arm64_realm.model import RealmModel, RealmVm
from vmm.plugins.arm64_realm.options import RealmSettings
from vmm.plugins.arm64_realm.rfc_v1 import calls as kvm_calls
from vmm.plugins.arm64_realm.rmm import HashAlgorithm

RAM_START = 0x8000_0000
RAM_SIZE = 4 << 20
REALM_33_BITS = uapi.KVM_VM_TYPE_ARM_REALM | 33
PSCI = 1 << arm64_uapi.KVM_ARM_VCPU_PSCI_0_2


def settings(**changes) -> RealmSettings:
    """Realm settings: SHA-256, no RPV, no SVE, unless changed."""
    values = dict(hash_algo=HashAlgorithm.SHA256, rpv=None, sve_vq=None)
    values.update(changes)
    return RealmSettings(**values)


class RealmDriver:
    """One VM on a fresh model of the RFC-v1 kernel, with a 4 MiB memslot at 0x8000_0000."""

    def __init__(self, vm_type: int = REALM_33_BITS) -> None:
        self.model = RealmModel(Arm64Model(), generation="rfc-v1")
        self.backend = ModelBackend(self.model)
        self.kvm = Kvm(self.backend)
        self.vmfd = self.kvm.create_vm(vm_type)
        self.memory = GuestMemory()
        region = self.memory.add(RAM_START, RAM_SIZE)
        self.vmfd.set_user_memory_region(0, RAM_START, RAM_SIZE, region.host_addr)
        self.vcpus: list[VcpuFd] = []

    @property
    def realm(self) -> RealmVm:
        return self.model.realms[-1]

    def create(self, **changes) -> RealmDriver:
        """CONFIG items and CREATE_RD."""
        kvm_calls.configure_realm(self.vmfd, settings(**changes))
        kvm_calls.create_realm_descriptor(self.vmfd)
        return self

    def vcpu(self, features: int = PSCI) -> VcpuFd:
        """KVM_CREATE_VCPU (next id) and KVM_ARM_VCPU_INIT with ``features``."""
        fd = self.vmfd.create_vcpu(len(self.vcpus))
        init = arm64_uapi.ffi.new("struct kvm_vcpu_init *")
        self.vmfd.call(arm64_uapi.KVM_ARM_PREFERRED_TARGET, init)
        init.features[0] = features
        fd.call(arm64_uapi.KVM_ARM_VCPU_INIT, init)
        self.vcpus.append(fd)
        return fd

    def set_reg(self, fd: VcpuFd, name: str, value: int) -> None:
        fd.set_one_reg(REGISTER_IDS[name], value)

    def close(self) -> None:
        for fd in self.vcpus:
            fd.close()
        self.vmfd.close()
        self.kvm.close()
        self.memory.close()


@contextmanager
def fails_with(code: int):
    """The block's KVM call fails with errno ``code``."""
    with pytest.raises(KvmError) as raised:
        yield raised
    assert raised.value.errno == code, (
        f"expected {errno.errorcode[code]}, got {errno.errorcode.get(raised.value.errno)}: "
        f"{raised.value}"
    )
