"""The model backend's memory ioctls: memslots, guest_memfd and memory attributes.

A mixin of :class:`~.backend.ModelBackend` (it uses the backend's fd table and arch
model). Private memory follows the kernel's generic code (virt/kvm/kvm_main.c and
guest_memfd.c, Linux 6.8 and later): only an arch model that has it
(``ArchModel.private_memory``) answers these ioctls, and only a VM type with private
memory may back a memslot with a guest_memfd or mark a range private.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Any

from .base import ArchModel, ModelErrno
from .decode import UserMemory
from .state import GuestMemfdState, Memslot, VmState

KVM_CAP_USER_MEMORY2, KVM_CAP_MEMORY_ATTRIBUTES, KVM_CAP_GUEST_MEMFD = 231, 233, 234
KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY, KVM_MEM_GUEST_MEMFD = 1, 2, 4
KVM_MEMORY_ATTRIBUTE_PRIVATE = 1 << 3
PAGE = 4096
MEMSLOT_FORMAT = "<IIQQQ"
MEMSLOT2_FORMAT = "<IIQQQQII112s"


class MemoryIoctls:
    """KVM_SET_USER_MEMORY_REGION(2), KVM_CREATE_GUEST_MEMFD, KVM_SET_MEMORY_ATTRIBUTES."""

    arch: ArchModel
    _objects: dict[int, Any]
    _new_fd: Callable[[Any], int]

    def _kvm_set_user_memory_region(self, vm: VmState, arg: int, call: Any) -> int:
        slot, flags, gpa, size, hva = UserMemory.unpack(MEMSLOT_FORMAT, arg)
        call.detail = f"slot={slot} gpa={gpa:#x} size={size:#x}"
        if flags & ~(KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY):
            raise ModelErrno(errno.EINVAL, "unknown memslot flags")
        self._set_memslot(vm, Memslot(slot, flags, gpa, size, hva))
        return 0

    def _kvm_set_user_memory_region2(self, vm: VmState, arg: int, call: Any) -> int:
        slot, flags, gpa, size, hva, offset, fd, _, _ = UserMemory.unpack(MEMSLOT2_FORMAT, arg)
        call.detail = f"slot={slot} gpa={gpa:#x} size={size:#x}"
        if flags & ~(KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY | KVM_MEM_GUEST_MEMFD):
            raise ModelErrno(errno.EINVAL, "unknown memslot flags")
        gmem = None
        if flags & KVM_MEM_GUEST_MEMFD:
            gmem = self._objects.get(fd)
            if not self.arch.vm_has_private_memory(vm) or not isinstance(gmem, GuestMemfdState) \
                    or gmem.vm is not vm:
                raise ModelErrno(errno.EINVAL, "no guest_memfd of this VM, or no private memory")
            if offset % PAGE or offset + size > gmem.size:
                raise ModelErrno(errno.EINVAL, "memslot beyond its guest_memfd")
            call.detail += f" guest_memfd offset={offset:#x}"
        self._set_memslot(vm, Memslot(slot, flags, gpa, size, hva, gmem, offset))
        return 0

    @staticmethod
    def _set_memslot(vm: VmState, memslot: Memslot) -> None:
        """Create, replace or (size 0) delete a memslot, as KVM checks it."""
        slot, gpa, size = memslot.slot, memslot.guest_phys_addr, memslot.memory_size
        if gpa % PAGE or size % PAGE or memslot.userspace_addr % PAGE:
            raise ModelErrno(errno.EINVAL, "memslot not page aligned")
        if size == 0:
            vm.memslots.pop(slot, None)
            return
        for other in vm.memslots.values():
            if other.slot != slot and gpa < other.guest_phys_addr + other.memory_size \
                    and other.guest_phys_addr < gpa + size:
                raise ModelErrno(errno.EEXIST, "memslots overlap")
        vm.memslots[slot] = memslot

    def _kvm_create_guest_memfd(self, vm: VmState, arg: int, call: Any) -> int:
        size, flags, _ = UserMemory.unpack("<QQ48s", arg)
        call.detail = f"size={size:#x}"
        if not self.arch.private_memory:
            raise ModelErrno(errno.ENOTTY, "this kernel has no guest_memfd")
        if flags or size == 0 or size % PAGE:
            raise ModelErrno(errno.EINVAL, "bad guest_memfd size or flags")
        return self._new_fd(GuestMemfdState(vm, size))

    def _kvm_set_memory_attributes(self, vm: VmState, arg: int, call: Any) -> int:
        address, size, attributes, flags = UserMemory.unpack("<QQQQ", arg)
        call.detail = f"address={address:#x} size={size:#x} attributes={attributes:#x}"
        if not self.arch.private_memory:
            raise ModelErrno(errno.ENOTTY, "this kernel has no memory attributes")
        supported = KVM_MEMORY_ATTRIBUTE_PRIVATE if self.arch.vm_has_private_memory(vm) else 0
        if attributes & ~supported or flags or size == 0 or address % PAGE or size % PAGE:
            raise ModelErrno(errno.EINVAL, "bad memory attributes")
        if attributes:
            vm.private.add(address, address + size)
        else:
            vm.private.remove(address, address + size)
        return 0

