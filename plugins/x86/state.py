"""The x86 plugin's per-VM state, kept in the VM's typed stash."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vmm.core.stash import StashKey

if TYPE_CHECKING:
    from vmm.core.vm import Vm

#: Boot protocols the loaders choose between (they decide the boot registers).
REAL_MODE = "real mode"
LINUX_64 = "long mode"  # the Linux 64-bit boot protocol
PVH = "32-bit protected mode (PVH)"


@dataclass
class E820Entry:
    """One entry of the memory map handed to the guest."""

    addr: int
    size: int
    type: int

    @property
    def end(self) -> int:
        return self.addr + self.size


@dataclass
class BootInfo:
    """How the loaded kernel starts: protocol, entry point and boot structure."""

    protocol: str
    entry: int
    #: Guest address of boot_params (64-bit protocol) or hvm_start_info (PVH).
    boot_struct: int = 0
    #: Only the ELF/bzImage loaders know how far the kernel extends (initrd goes above).
    kernel_end: int = 0
    #: The bzImage's setup header (copied into the zero page), when any.
    setup_header: bytes = b""
    #: Highest address the initrd may end at, inclusive (0: no limit but RAM's).
    initrd_addr_max: int = 0
    #: Longest command line the kernel accepts, without the NUL (0: vmm's own limit).
    cmdline_size: int = 0


@dataclass
class X86Vm:
    """What the x86 plugin remembers about one VM."""

    boot: BootInfo | None = None
    e820: list[E820Entry] = field(default_factory=list)
    #: KVM_GET_SUPPORTED_CPUID's entries, as cdata copies of kvm_cpuid_entry2.
    supported_cpuid: Any = None
    #: The devices x86 wired ("uart", "i8042", "rtc", and "input", the stdin reader).
    devices: dict[str, Any] = field(default_factory=dict)


X86_KEY = StashKey[X86Vm]()


def x86_state(vm: Vm) -> X86Vm:
    """The VM's x86 state, created on first use."""
    return vm.stash.setdefault(X86_KEY, X86Vm)
