"""Private guest memory (guest_memfd), for VM types whose RAM the host can't read.

When a plugin asks for it (``vmm_private_memory``), each RAM bank gets a guest_memfd
for its private pages beside the ordinary host mapping, which stays the shared view:
what devices read and write, and the source a plugin copies initial contents from.
Every bank starts private. The guest then converts ranges as it shares or reclaims
them; KVM reports each access that disagrees with a range's attribute as
KVM_EXIT_MEMORY_FAULT, and :func:`convert_for_fault` sets the attribute the guest
asked for, after checking that the range is private-capable guest RAM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import GuestError
from .kvm import ioctls as k

if TYPE_CHECKING:
    from .kvm.exits import MemoryFaultExit
    from .kvm.fds import VmFd
    from .memory import GuestMemory, RamRegion

PAGE_SIZE = 4096


def back_with_guest_memfd(vmfd: VmFd, region: RamRegion) -> None:
    """Register ``region`` as private memory: its guest_memfd, its memslot, private."""
    region.guest_memfd = vmfd.create_guest_memfd(region.size)
    vmfd.set_user_memory_region2(region.slot, region.guest_start, region.size,
                                 region.host_addr, region.guest_memfd)
    vmfd.set_memory_attributes(region.guest_start, region.size, k.KVM_MEMORY_ATTRIBUTE_PRIVATE)


def convert_for_fault(vmfd: VmFd, memory: GuestMemory, vcpu_id: int,
                      fault: MemoryFaultExit) -> None:
    """Make the faulting range private or shared, as the guest's access asked.

    A range that is not whole pages of one private-capable RAM bank is the guest's
    error: the VM stops with a :class:`GuestError` instead of touching anything else.
    """
    region = memory.region_at(fault.gpa)
    end = fault.gpa + fault.size
    if (region is None or region.guest_memfd is None or end > region.guest_end
            or fault.size == 0 or fault.gpa % PAGE_SIZE or fault.size % PAGE_SIZE):
        raise GuestError(
            f"vCPU {vcpu_id}: memory fault on {fault.gpa:#x}+{fault.size:#x}, which is not "
            "private guest RAM"
        )
    attributes = k.KVM_MEMORY_ATTRIBUTE_PRIVATE if fault.private else 0
    vmfd.set_memory_attributes(fault.gpa, fault.size, attributes)
