"""Generic KVM ioctls (include/uapi/linux/kvm.h) and constants used by the core."""

from __future__ import annotations

from .cdefs import ffi
from .ioc import IoctlTable

_t = IoctlTable(ffi)

# System (/dev/kvm) ioctls
KVM_GET_API_VERSION = _t.io("KVM_GET_API_VERSION", 0x00)
KVM_CREATE_VM = _t.io("KVM_CREATE_VM", 0x01)
KVM_CHECK_EXTENSION = _t.io("KVM_CHECK_EXTENSION", 0x03)
KVM_GET_VCPU_MMAP_SIZE = _t.io("KVM_GET_VCPU_MMAP_SIZE", 0x04)

# VM ioctls
KVM_CREATE_VCPU = _t.io("KVM_CREATE_VCPU", 0x41)
KVM_SET_USER_MEMORY_REGION = _t.iow(
    "KVM_SET_USER_MEMORY_REGION", 0x46, "struct kvm_userspace_memory_region"
)
KVM_CREATE_IRQCHIP = _t.io("KVM_CREATE_IRQCHIP", 0x60)
KVM_IRQ_LINE = _t.iow("KVM_IRQ_LINE", 0x61, "struct kvm_irq_level")
KVM_IRQFD = _t.iow("KVM_IRQFD", 0x76, "struct kvm_irqfd")
KVM_IOEVENTFD = _t.iow("KVM_IOEVENTFD", 0x79, "struct kvm_ioeventfd")
KVM_ENABLE_CAP = _t.iow("KVM_ENABLE_CAP", 0xA3, "struct kvm_enable_cap")
KVM_SIGNAL_MSI = _t.iow("KVM_SIGNAL_MSI", 0xA5, "struct kvm_msi")
KVM_CREATE_DEVICE = _t.iowr("KVM_CREATE_DEVICE", 0xE0, "struct kvm_create_device")
KVM_SET_DEVICE_ATTR = _t.iow("KVM_SET_DEVICE_ATTR", 0xE1, "struct kvm_device_attr")
KVM_GET_DEVICE_ATTR = _t.iow("KVM_GET_DEVICE_ATTR", 0xE2, "struct kvm_device_attr")
KVM_HAS_DEVICE_ATTR = _t.iow("KVM_HAS_DEVICE_ATTR", 0xE3, "struct kvm_device_attr")
# Private memory (guest_memfd) for confidential VMs; their structs and the memory-fault
# exit come from kernels after the host's headers (checked against a v6.14 uapi).
KVM_SET_USER_MEMORY_REGION2 = _t.iow(
    "KVM_SET_USER_MEMORY_REGION2", 0x49, "struct kvm_userspace_memory_region2"
)
KVM_SET_MEMORY_ATTRIBUTES = _t.iow("KVM_SET_MEMORY_ATTRIBUTES", 0xD2, "struct kvm_memory_attributes")
KVM_CREATE_GUEST_MEMFD = _t.iowr("KVM_CREATE_GUEST_MEMFD", 0xD4, "struct kvm_create_guest_memfd")

# vCPU ioctls
KVM_RUN = _t.io("KVM_RUN", 0x80)
KVM_GET_ONE_REG = _t.iow("KVM_GET_ONE_REG", 0xAB, "struct kvm_one_reg")
KVM_SET_ONE_REG = _t.iow("KVM_SET_ONE_REG", 0xAC, "struct kvm_one_reg")

KVM_API_VERSION = 12

# Capabilities the core asks about (the kernel's KVM_CAP_* numbers).
KVM_CAP_IRQCHIP = 0
KVM_CAP_USER_MEMORY = 3
KVM_CAP_NR_VCPUS = 9
KVM_CAP_MAX_VCPUS = 66
KVM_CAP_IOEVENTFD = 36
KVM_CAP_IRQFD = 32
KVM_CAP_ONE_REG = 70
KVM_CAP_CHECK_EXTENSION_VM = 105
KVM_CAP_USER_MEMORY2 = 231
KVM_CAP_MEMORY_ATTRIBUTES = 233
KVM_CAP_GUEST_MEMFD = 234

# Exit reasons (kvm_run.exit_reason).
KVM_EXIT_UNKNOWN = 0
KVM_EXIT_EXCEPTION = 1
KVM_EXIT_IO = 2
KVM_EXIT_HYPERCALL = 3
KVM_EXIT_DEBUG = 4
KVM_EXIT_HLT = 5
KVM_EXIT_MMIO = 6
KVM_EXIT_IRQ_WINDOW_OPEN = 7
KVM_EXIT_SHUTDOWN = 8
KVM_EXIT_FAIL_ENTRY = 9
KVM_EXIT_INTR = 10
KVM_EXIT_INTERNAL_ERROR = 17
KVM_EXIT_SYSTEM_EVENT = 24
KVM_EXIT_RISCV_SBI = 35
KVM_EXIT_RISCV_CSR = 36
KVM_EXIT_MEMORY_FAULT = 39

KVM_EXIT_IO_IN = 0
KVM_EXIT_IO_OUT = 1

KVM_SYSTEM_EVENT_SHUTDOWN = 1
KVM_SYSTEM_EVENT_RESET = 2
KVM_SYSTEM_EVENT_CRASH = 3

KVM_IOEVENTFD_FLAG_DATAMATCH = 1 << 0
KVM_IOEVENTFD_FLAG_PIO = 1 << 1
KVM_IOEVENTFD_FLAG_DEASSIGN = 1 << 2

KVM_MSI_VALID_DEVID = 1 << 0

# Private memory: a memslot backed by a guest_memfd, the private attribute, and the
# flag of a memory-fault exit that asks for private memory.
KVM_MEM_GUEST_MEMFD = 1 << 2
KVM_MEMORY_ATTRIBUTE_PRIVATE = 1 << 3
KVM_MEMORY_EXIT_FLAG_PRIVATE = 1 << 3
