"""The x86 emulated KVM host: an AMD CPU under QEMU TCG, where kvm-amd gives /dev/kvm.

QEMU's TCG has no VMX, so the nested path is SVM with nested paging (``-cpu max``
exposes ``svm npt``). Debian's kernels build KVM as modules. The backports kernel
(6.12) boots noticeably faster than bookworm's 6.1 under TCG, and the newest
matching package is taken.
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
    """The x86 emulated host, built on first use (a run doesn't import
    :mod:`vmm.core.nested.spec`: its dataclasses cost ~1.5 ms)."""
    from vmm.core.nested.spec import EmulatedHost, debian_python_runtime

    return EmulatedHost(
        arch="x86",
        debian_arch="amd64",
        debian_suites=("bookworm", "bookworm-backports"),
        kernel_package_pattern=r"linux-image-6\.\d+\.\d+(-\d+)?(\+deb\d+(\.\d+)?)?-amd64",
        qemu_binary="qemu-system-x86_64",
        qemu_packages=("qemu-system-x86",),
        qemu_machine_args=("-M", "q35", "-cpu", "max"),
        console="ttyS0",
        python_version=PYTHON_VERSION,
        python_packages=debian_python_runtime(PYTHON_VERSION),
        wheel_platforms=(
            "manylinux_2_28_x86_64",
            "manylinux_2_17_x86_64",
            "manylinux2014_x86_64",
        ),
        kvm_modules=("kvm-amd",),
    )


@hookimpl
def vmm_emulated_host(arch: str) -> EmulatedHost | None:
    """Describe the x86 emulated host when ``arch`` is x86."""
    return emulated_host() if arch == "x86" else None
