"""What an arch plugin tells ``vmm nested`` about its emulated KVM host."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EmulatedHost:
    """How to build and boot an emulated KVM host ("L1") for one architecture.

    Every field is a fact about the architecture; the core turns them into Debian
    downloads, an initramfs and a QEMU command line without knowing which
    architecture it is.
    """

    #: The name given to ``vmm nested --arch`` (and ``vmm run --arch``).
    arch: str
    #: Debian's name for the architecture (``dpkg --print-architecture`` there).
    debian_arch: str
    #: Debian suites to take the host's packages from, e.g. ``("bookworm",)``.
    debian_suites: tuple[str, ...]
    #: Regular expression matching the kernel package names; the newest match wins.
    kernel_package_pattern: str
    #: QEMU system emulator, e.g. ``qemu-system-aarch64``.
    qemu_binary: str
    #: Debian packages (for this machine's architecture) providing ``qemu_binary``
    #: and its firmware, taken from this machine's suite's backports.
    qemu_packages: tuple[str, ...]
    #: Machine, CPU and firmware flags for QEMU (``-M``, ``-cpu``...).
    qemu_machine_args: tuple[str, ...]
    #: The kernel's console device for the serial port QEMU connects to stdio.
    console: str
    #: Python version of the Debian interpreter, e.g. ``"3.11"``.
    python_version: str
    #: Debian packages making up that interpreter and the libraries it loads.
    python_packages: tuple[str, ...]
    #: Platform tags of the index's wheels for this architecture (for compiled
    #: dependencies such as pydantic-core), most specific first.
    wheel_platforms: tuple[str, ...]
    #: Kernel modules that give /dev/kvm (their dependencies are found and loaded
    #: first); modules built into the kernel are skipped.
    kvm_modules: tuple[str, ...] = ()
    #: Kernel modules needed to see the disks attached with ``disk_device``.
    disk_modules: tuple[str, ...] = ("virtio_pci", "virtio_blk")
    #: QEMU device model of the disks handed to the emulated host.
    disk_device: str = "virtio-blk-pci"
    #: Debian package with a statically linked busybox (``/bin/busybox``).
    busybox_package: str = "busybox-static"
    #: Debian packages of programs the inner vmm starts: passt, the user-mode
    #: network stack of ``--network mode=user``.
    helper_packages: tuple[str, ...] = ("passt",)
    #: Extra kernel command-line words for the emulated host.
    kernel_args: tuple[str, ...] = ()
    #: Memory of the emulated host in MiB.
    memory_mib: int = 2048

    @property
    def qemu_user_binary(self) -> str:
        """QEMU's user-mode emulator for the same CPU (``qemu-system-X`` -> ``qemu-X``).

        It runs the target's Python on this machine to precompile .pyc files when
        this machine's Python has another version.
        """
        return self.qemu_binary.replace("qemu-system-", "qemu-", 1)


def debian_python_runtime(version: str, *, t64: bool = False) -> tuple[str, ...]:
    """List the Debian packages that make Python ``version`` run from a plain tree.

    ``t64`` selects the library names after Debian's 64-bit time_t transition
    (trixie and later), where libssl3 became libssl3t64.
    """
    return (
        f"python{version}-minimal",
        f"libpython{version}-minimal",
        f"libpython{version}-stdlib",
        "libc6",
        "libgcc-s1",
        "libffi8",
        "zlib1g",
        "libexpat1",
        "libssl3t64" if t64 else "libssl3",
    )


__all__ = ["EmulatedHost", "debian_python_runtime"]
