"""What an arch plugin tells ``vmm nested`` about its emulated KVM host."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class FirmwareBoot:
    """A host that boots from its own firmware image instead of a Debian kernel.

    QEMU starts ``firmware`` (``-bios``); the kernel inside it has a built-in
    initramfs whose init mounts the 9p share tagged ``payload_tag`` and runs the
    ``init`` found there, then powers the machine off. ``vmm nested`` lays its
    payload (the same Python and vmm as the Debian-kernel host, and the run's files)
    out in such a share instead of an initramfs.
    """

    #: The firmware image QEMU boots (``-bios``).
    firmware: Path
    #: Machine and CPU flags for QEMU, replacing the host's own.
    qemu_machine_args: tuple[str, ...]
    #: What the host is, for messages ("the Arm CCA host kit in DIR").
    description: str
    #: The 9p mount tag whose ``init`` the firmware's kernel runs.
    payload_tag: str = "vmm"
    #: Where that kernel mounts the share.
    payload_mount: str = "/vmm"
    #: Number of CPUs of the emulated host.
    cpus: int = 1


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
    #: Kernel modules needed to mount the directories given to ``--share`` (9p).
    share_modules: tuple[str, ...] = ("virtio_pci", "9pnet_virtio", "9p")
    #: QEMU device model of the 9p shares.
    share_device: str = "virtio-9p-pci"
    #: Memory of the emulated host in MiB.
    memory_mib: int = 2048
    #: Set when the host boots from its own firmware (see :class:`FirmwareBoot`);
    #: its userland (Debian Python, vmm) is still this host's, so the field takes
    #: no part in the cache keys (``repr``) of the images built from the others.
    firmware_boot: FirmwareBoot | None = field(default=None, repr=False, compare=False)

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


__all__ = ["EmulatedHost", "FirmwareBoot", "debian_python_runtime"]
