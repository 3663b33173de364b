"""vmm's pytest plugin (entry point ``pytest11: vmm``): fixtures for plugin tests.

Build a VM of any architecture against the model of KVM, with the plugins you
choose, drive synthetic exits into it, and look at the ioctl sequence and the hook
calls::

    def test_my_device(vmm_vm):
        vm = vmm_vm("arm64", extra_plugins=[("mydev", mydev)], cpus=2)
        vm.build()
        vm.exit("mmio", addr=0x9000_0000, size=4, is_write=False)
        assert vm.completed_reads()[-1] == ("mmio", 0x9000_0000, b"\\x2a\\0\\0\\0")
        assert "KVM_CREATE_VCPU" in vm.ioctl_names()

Tests that need the host's /dev/kvm use the ``require_kvm`` fixture: it skips when
/dev/kvm is unusable, unless ``VMM_REQUIRE_KVM=1`` (set by CI), where it fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .model_vm import ModelVm, make_model_vm

REQUIRE_ENV = "VMM_REQUIRE_KVM"


def kvm_usable() -> str | None:
    """None when /dev/kvm can be opened read-write, else the reason it can't."""
    if not os.path.exists("/dev/kvm"):
        return "/dev/kvm does not exist"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "/dev/kvm is not accessible"
    return None


def skip_or_fail(reason: str) -> None:
    """Skip a test for a missing prerequisite, or fail when CI requires it."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1 turns this skip into a failure)")
    pytest.skip(reason)


@pytest.fixture
def require_kvm() -> None:
    """Skip (or, with VMM_REQUIRE_KVM=1, fail) unless /dev/kvm is usable."""
    reason = kvm_usable()
    if reason:
        skip_or_fail(reason)


@pytest.fixture
def vmm_vm(tmp_path) -> Iterator:
    """A factory of model-backed VMs: ``vmm_vm(arch, **options) -> ModelVm``.

    Every VM built through it is torn down (exit stages, fds, memory) at the end of
    the test.
    """
    built: list[ModelVm] = []

    def factory(arch: str, **kwargs) -> ModelVm:
        vm = make_model_vm(arch, workdir=tmp_path, **kwargs)
        built.append(vm)
        return vm

    yield factory
    for vm in built:
        vm.teardown()


__all__ = ["ModelVm", "kvm_usable", "require_kvm", "skip_or_fail", "vmm_vm", "make_model_vm"]
