"""Coverage-guided fuzz targets for what a guest or a file controls (docs/reliability.md).

``python -m fuzz TARGET --runs N`` runs one target under atheris (libFuzzer for
Python); ``python -m fuzz --list`` names them. Not part of the test suite: the
tests only run each target briefly (``tests/test_fuzz_targets.py``).

A target is a function taking the fuzzer's bytes. It decodes them into what a
guest or a user could hand vmm, feeds it to the code under test, and lets only the
refusals that code documents pass (a bad chain, an image error, a plan error...);
anything else escaping, or a broken invariant (an assertion), is a finding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module

OneInput = Callable[[bytes], None]


@dataclass(frozen=True)
class Target:
    """A fuzz target: ``setup()`` builds what the inputs are fed to (once per
    process) and returns the function taking one input; ``seeds`` start the corpus."""

    name: str
    about: str
    setup: Callable[[], OneInput]
    seeds: Callable[[], list[bytes]] = field(default=lambda: [])


#: Target name -> module defining it (imported only when the target runs).
MODULES = {
    "virtio-blk": "fuzz.virtio_devices",
    "virtio-net": "fuzz.virtio_devices",
    "virtio-rng": "fuzz.virtio_devices",
    "virtio-console": "fuzz.virtio_devices",
    "virtio-mmio": "fuzz.virtio_registers",
    "virtio-pci": "fuzz.virtio_registers",
    "x86-kernel": "fuzz.images",
    "arm64-kernel": "fuzz.images",
    "riscv-kernel": "fuzz.images",
    "fdt": "fuzz.fdt",
    "realm-plan": "fuzz.realm_plan",
}


def target(name: str) -> Target:
    """The target called ``name`` (KeyError if there is none)."""
    module = import_module(MODULES[name])
    return module.TARGETS[name]
