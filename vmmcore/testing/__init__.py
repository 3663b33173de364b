"""vmm's pytest plugin (entry point ``pytest11: vmm``): fixtures for plugin tests.

Build a VM of any architecture against the model of KVM, with the plugins you
choose, drive synthetic exits into it, and look at the ioctl sequence and the hook
calls::

    def test_my_device(vmm_vm, vmm_arch):          # runs for x86, arm64 and riscv
        vm = vmm_vm(vmm_arch, extra_plugins=[("mydev", mydev)], cpus=2).build()
        assert vm.mmio_read(0x9000_0000) == 0x2A
        vm.exit("system_event", type=1)
        assert "KVM_CREATE_VCPU" in vm.ioctl_names()
        assert vm.hooks_called("vmm_dev_init")[-1] == "mydev"

Fixtures:

- ``vmm_vm``: a factory ``vmm_vm(arch, extra_plugins=..., blocked=..., kernel=...,
  options=..., cpus=..., mem_mib=...) -> ModelVm``; every VM it built is torn down
  after the test. Without ``kernel`` the arch's built-in guest (or
  :func:`vmm.core.testing.images.minimal_kernel`) is loaded. When the arch plugin has
  no model of KVM yet, the test is skipped with that reason (``VMM_REQUIRE_MODELS=1``
  turns the skip into a failure).
- ``vmm_arch``: parametrizes a test over every installed architecture (arm64, riscv, x86...).
- ``require_kvm``: skips unless /dev/kvm is usable (``VMM_REQUIRE_KVM=1``, set by CI,
  turns the skip into a failure).
- ``vmm_kvm_guest``: ``vmm_kvm_guest(image, *options, arch=..., timeout=...) ->
  GuestRun`` boots a real guest (image bytes or a path) with ``vmm run`` on
  /dev/kvm and returns its exit status and output (:mod:`.kvm_guest`); without
  /dev/kvm, skipped (failed under ``VMM_REQUIRE_KVM=1``).
- ``hugetlbfs_dir``: a private hugetlbfs mount with free 2 MiB pages (root; the pool
  and the mount are restored; without root, skipped, or failed under
  ``VMM_REQUIRE_KVM=1``).

:class:`GivenModel` is a test plugin that gives the model of KVM to build against
(another modelled host: ``extra_plugins=[("host", GivenModel(Arm64Model(host)))]``).

:class:`ModelVm` drives exits (``exit``, ``mmio_read``/``mmio_write``,
``pio_read``/``pio_write``) and shows what happened (``ioctl_names``, ``ioctl_log``,
``hooks_called``, ``calls``, ``completed_reads``, ``exit_code``, ``console_output``,
``device_tree``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ..plugins import known_arches
from .images import minimal_kernel
from .kvm_guest import GuestRun, GuestTimeoutError, run_guest, write_image
from .model_vm import GivenModel, ModelVm, NoModelError, make_model_vm

REQUIRE_ENV = "VMM_REQUIRE_KVM"
REQUIRE_MODELS_ENV = "VMM_REQUIRE_MODELS"


def kvm_usable() -> str | None:
    """None when /dev/kvm can be opened read-write, else the reason it can't."""
    if not os.path.exists("/dev/kvm"):
        return "/dev/kvm does not exist"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "/dev/kvm is not accessible"
    return None


def skip_or_fail(reason: str, require_env: str = REQUIRE_ENV) -> None:
    """Skip a test for a missing prerequisite, or fail when ``require_env=1`` is set."""
    if os.environ.get(require_env) == "1":
        pytest.fail(f"{reason} ({require_env}=1 turns this skip into a failure)")
    pytest.skip(reason)


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``kvm`` marker (for vmm's tests and any plugin's that use this)."""
    config.addinivalue_line(
        "markers", "kvm: needs the host's /dev/kvm (skipped without it unless VMM_REQUIRE_KVM=1)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that asks for ``require_kvm`` (itself or through another fixture) carries
    the ``kvm`` marker, so ``-m "not kvm"`` deselects every test that needs /dev/kvm."""
    for item in items:
        if "require_kvm" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kvm)


@pytest.fixture
def require_kvm() -> None:
    """Skip (or, with VMM_REQUIRE_KVM=1, fail) unless /dev/kvm is usable."""
    reason = kvm_usable()
    if reason:
        skip_or_fail(reason)


@pytest.fixture
def vmm_kvm_guest(require_kvm: None, tmp_path: Path) -> Callable[..., GuestRun]:
    """Boot a real guest on /dev/kvm: ``vmm_kvm_guest(image, *options, **kwargs)``.

    ``image`` is bytes (written to the test's directory) or a path; the other
    arguments are :func:`.kvm_guest.run_guest`'s.
    """

    def boot(image: bytes | str | os.PathLike[str], *options: str, **kwargs: Any) -> GuestRun:
        if isinstance(image, (bytes, bytearray)):
            image = write_image(tmp_path, bytes(image))
        return run_guest(image, *options, **kwargs)

    return boot


@pytest.fixture
def hugetlbfs_dir() -> Iterator[str]:
    """A private hugetlbfs mount with free huge pages (see :mod:`.hugetlbfs`)."""
    from .hugetlbfs import mounted_hugetlbfs

    yield from mounted_hugetlbfs(skip_or_fail)


@pytest.fixture(params=known_arches())
def vmm_arch(request: pytest.FixtureRequest) -> str:
    """Each architecture in turn: a test using it runs once for every installed arch
    plugin (x86, arm64 and riscv, and any other)."""
    arch: str = request.param
    return arch


@pytest.fixture
def vmm_vm(tmp_path: Path) -> Iterator[Callable[..., ModelVm]]:
    """A factory of model-backed VMs: ``vmm_vm(arch, **options) -> ModelVm``.

    Takes the keyword arguments of :func:`make_model_vm`. Every VM built through it
    is torn down (exit stages, fds, memory) at the end of the test.
    """
    built: list[ModelVm] = []

    def factory(arch: str, **kwargs: Any) -> ModelVm:
        try:
            vm = make_model_vm(arch, workdir=tmp_path, **kwargs)
        except NoModelError as error:
            skip_or_fail(str(error), REQUIRE_MODELS_ENV)
            raise  # not reached: skip_or_fail raises
        built.append(vm)
        return vm

    yield factory
    for vm in built:
        vm.teardown()


__all__ = [
    "GivenModel",
    "GuestRun",
    "GuestTimeoutError",
    "ModelVm",
    "NoModelError",
    "kvm_usable",
    "make_model_vm",
    "minimal_kernel",
    "require_kvm",
    "run_guest",
    "skip_or_fail",
    "vmm_arch",
    "vmm_kvm_guest",
    "vmm_vm",
]
