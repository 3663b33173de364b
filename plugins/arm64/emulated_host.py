"""The arm64 emulated KVM host: QEMU's virt board with EL2, where KVM is built in.

The kernel boots at EL2 (``virtualization=on``) and KVM comes up in VHE mode on a
GICv3. ``pauth-impdef=on`` swaps the architected pointer-authentication algorithm
for QEMU's cheap one, which makes TCG markedly faster.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from vmm import hookimpl

if TYPE_CHECKING:
    from vmm.core.nested.spec import EmulatedHost

PYTHON_VERSION = "3.11"


@functools.cache
def emulated_host() -> EmulatedHost:
    """The arm64 emulated host, built on first use (a run doesn't import
    :mod:`vmm.core.nested.spec`: its dataclasses cost ~1.5 ms)."""
    from vmm.core.nested.spec import EmulatedHost, debian_python_runtime

    return EmulatedHost(
        arch="arm64",
        debian_arch="arm64",
        debian_suites=("bookworm",),
        kernel_package_pattern=r"linux-image-6\.\d+\.\d+(-\d+)?(\+deb\d+(\.\d+)?)?-arm64",
        qemu_binary="qemu-system-aarch64",
        qemu_packages=("qemu-system-arm",),
        qemu_machine_args=(
            "-M", "virt,virtualization=on,gic-version=3",
            "-cpu", "max,pauth-impdef=on",
        ),
        console="ttyAMA0",
        python_version=PYTHON_VERSION,
        python_packages=debian_python_runtime(PYTHON_VERSION),
        wheel_platforms=(
            "manylinux_2_28_aarch64",
            "manylinux_2_17_aarch64",
            "manylinux2014_aarch64",
        ),
    )


@hookimpl
def vmm_emulated_host(arch: str) -> EmulatedHost | None:
    """Describe the arm64 emulated host when ``arch`` is arm64."""
    return emulated_host() if arch == "arm64" else None
