"""What the model of KVM remembers about the system, each VM and each vCPU."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .ranges import RangeSet


@dataclass
class GuestMemfdState:
    """A guest_memfd (KVM_CREATE_GUEST_MEMFD): private memory of one VM."""

    vm: VmState
    size: int


@dataclass
class Memslot:
    slot: int
    flags: int
    guest_phys_addr: int
    memory_size: int
    userspace_addr: int
    #: The guest_memfd backing the slot's private pages (KVM_SET_USER_MEMORY_REGION2).
    guest_memfd: GuestMemfdState | None = None
    guest_memfd_offset: int = 0

    @property
    def can_be_private(self) -> bool:
        """Whether the slot has private memory (kvm_slot_can_be_private)."""
        return self.guest_memfd is not None

    def contains(self, gpa: int, size: int) -> bool:
        return self.guest_phys_addr <= gpa and gpa + size <= self.guest_phys_addr + self.memory_size


@dataclass
class VcpuState:
    """A modelled vCPU."""

    vm: VmState
    vcpu_id: int
    run_area: bytearray
    #: Register values by the arch model's names or ONE_REG ids.
    regs: dict[Any, int] = field(default_factory=dict)
    #: Exits queued by tests (``ModelBackend.queue_exit``); consumed by KVM_RUN.
    scripted_exits: deque[tuple[str, dict[str, Any]]] = field(default_factory=deque)
    #: What the VMM answered to scripted reads: (kind, address, bytes).
    completed: list[tuple[str, int, bytes]] = field(default_factory=list)
    pending_read: tuple[str, int, int, int] | None = None
    runs: int = 0
    arch: dict[str, Any] = field(default_factory=dict)


@dataclass
class DeviceState:
    """A device fd (KVM_CREATE_DEVICE)."""

    vm: VmState
    device_type: int
    attrs: dict[tuple[int, int], bytes] = field(default_factory=dict)
    arch: dict[str, Any] = field(default_factory=dict)


@dataclass
class VmState:
    """A modelled VM."""

    vm_type: int
    memslots: dict[int, Memslot] = field(default_factory=dict)
    vcpus: dict[int, VcpuState] = field(default_factory=dict)
    devices: list[DeviceState] = field(default_factory=list)
    irqchip: bool = False
    ioeventfds: list[tuple[int, int, int, int]] = field(default_factory=list)
    irqfds: list[tuple[int, int]] = field(default_factory=list)
    #: Messages injected with KVM_SIGNAL_MSI: (address, data, devid or None).
    msis: list[tuple[int, int, int | None]] = field(default_factory=list)
    enabled_caps: list[tuple[int, tuple[int, ...]]] = field(default_factory=list)
    #: Guest ranges whose attribute is private (KVM_SET_MEMORY_ATTRIBUTES).
    private: RangeSet = field(default_factory=RangeSet)
    arch: dict[str, Any] = field(default_factory=dict)

    def memslot_for(self, gpa: int, size: int = 1) -> Memslot | None:
        for slot in self.memslots.values():
            if slot.contains(gpa, size):
                return slot
        return None


@dataclass
class SystemState:
    """The modelled /dev/kvm."""

    vms: list[VmState] = field(default_factory=list)
