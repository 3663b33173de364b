"""Realm RAM locking: fatal against real KVM, reported (not fatal) on the model."""

from __future__ import annotations

import resource
from types import SimpleNamespace

import pytest

from vmm.core.memory import GuestMemory
from vmm.core.stash import Stash
from vmm.core.testing import skip_or_fail
from vmm.plugins.arm64_realm import lifecycle, memory_lock
from vmm.plugins.arm64_realm.generation import GENERATION_KEY, make_generation
from vmm.plugins.arm64_realm.options import RealmSettings
from vmm.plugins.arm64_realm.rmm import HashAlgorithm
from vmm.plugins.arm64_realm.state import REALM_KEY, RealmState


def realm_vm(backend: str) -> SimpleNamespace:
    """An RFC-v1 realm VM (only RFC-v1 locks realm RAM; v7's is guest_memfd)."""
    stash = Stash()
    stash[REALM_KEY] = RealmState(RealmSettings(HashAlgorithm.SHA256, None, None))
    stash[GENERATION_KEY] = make_generation("rfc-v1")
    return SimpleNamespace(stash=stash, backend=SimpleNamespace(name=backend),
                           config=SimpleNamespace(dry_run=False), memory=GuestMemory())


@pytest.fixture
def region():
    memory = GuestMemory()
    yield memory.add(0x8000_0000, 1 << 20)
    memory.close()


@pytest.fixture
def refusing_mlock(monkeypatch):
    def refuse(address: int, size: int) -> None:
        raise memory_lock.MemoryLockError("can't lock 1 MiB of realm RAM in memory (test)")

    monkeypatch.setattr(memory_lock, "lock_on_fault", refuse)


def test_a_lock_failure_is_fatal_against_real_kvm(region, refusing_mlock) -> None:
    with pytest.raises(memory_lock.MemoryLockError, match="can't lock 1 MiB"):
        lifecycle.vmm_memory_allocated(vm=realm_vm("host"), region=region)


def test_a_lock_failure_is_remembered_on_the_model(region, refusing_mlock) -> None:
    vm = realm_vm("model")
    lifecycle.vmm_memory_allocated(vm=vm, region=region)
    assert vm.stash[REALM_KEY].lock_failure.startswith("can't lock 1 MiB")


def test_the_memlock_limit_is_raised_best_effort(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(resource, "getrlimit", lambda which: (64 << 10, 64 << 10))

    def setrlimit(which, limits):
        calls.append(limits)
        raise ValueError("not permitted")

    monkeypatch.setattr(resource, "setrlimit", setrlimit)
    memory_lock.raise_memlock_limit(1 << 30)  # a refusal is ignored
    assert calls == [(1 << 30, 1 << 30)]
    monkeypatch.setattr(resource, "getrlimit", lambda which: (2 << 30, 2 << 30))
    memory_lock.raise_memlock_limit(1 << 30)
    assert len(calls) == 1, "already high enough"


def test_mlock2_locks_a_real_mapping(region) -> None:
    try:
        memory_lock.lock_realm_ram(region.host_addr, region.size)
    except memory_lock.MemoryLockError as error:
        skip_or_fail(f"this host can't lock memory: {error}")
    with open("/proc/self/smaps") as smaps:
        text = smaps.read()
    entry = text.split(f"{region.host_addr:x}-", 1)[1]
    flags = next(line for line in entry.splitlines() if line.startswith("VmFlags:")).split()
    assert {"lo", "lf"} <= set(flags)
