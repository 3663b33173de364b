"""The riscv64 emulated KVM host: QEMU's virt board with the H extension.

bookworm has no riscv64 port, so everything comes from trixie. KVM is a module
there. ``-cpu max`` with the AIA (APLIC + IMSIC with guest files) lets the inner
vmm use KVM's in-kernel AIA irqchip; QEMU's default OpenSBI is the firmware.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from vmm import hookimpl

if TYPE_CHECKING:
    from vmm.core.nested.spec import EmulatedHost

PYTHON_VERSION = "3.13"


@functools.cache
def emulated_host() -> EmulatedHost:
    """The riscv emulated host, built on first use (a run doesn't import
    :mod:`vmm.core.nested.spec`: its dataclasses cost ~1.5 ms)."""
    from vmm.core.nested.spec import EmulatedHost, debian_python_runtime

    return EmulatedHost(
        arch="riscv",
        debian_arch="riscv64",
        debian_suites=("trixie",),
        kernel_package_pattern=r"linux-image-6\.\d+\.\d+(-\d+)?(\+deb\d+)?-riscv64",
        qemu_binary="qemu-system-riscv64",
        qemu_packages=("qemu-system-riscv", "opensbi"),
        qemu_machine_args=("-M", "virt,aia=aplic-imsic,aia-guests=2", "-cpu", "max"),
        console="ttyS0",
        python_version=PYTHON_VERSION,
        python_packages=debian_python_runtime(PYTHON_VERSION, t64=True),
        wheel_platforms=(
            "manylinux_2_39_riscv64",
            "manylinux_2_35_riscv64",
            "manylinux_2_31_riscv64",
        ),
        kvm_modules=("kvm",),
    )


@hookimpl
def vmm_emulated_host(arch: str) -> EmulatedHost | None:
    """Describe the riscv64 emulated host when ``arch`` is riscv."""
    return emulated_host() if arch == "riscv" else None
