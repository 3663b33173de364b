"""Generic KVM UAPI structures, declared once as cffi cdef text.

Sizes and offsets come from cffi; nothing here is typed by hand as a number. Arch
plugins declare their own structures in their own FFI, which includes this one. The
FFI is loaded through :func:`.ffiload.load_ffi` (no C parsing once cached).
``tests/test_kvm_headers.py`` compares every size and offset with the host's
``<linux/kvm.h>``.
"""

from __future__ import annotations

from .ffiload import load_ffi

GENERIC_CDEF = """
struct kvm_userspace_memory_region {
    uint32_t slot;
    uint32_t flags;
    uint64_t guest_phys_addr;
    uint64_t memory_size;
    uint64_t userspace_addr;
};

struct kvm_userspace_memory_region2 {
    uint32_t slot;
    uint32_t flags;
    uint64_t guest_phys_addr;
    uint64_t memory_size;
    uint64_t userspace_addr;
    uint64_t guest_memfd_offset;
    uint32_t guest_memfd;
    uint32_t pad1;
    uint64_t pad2[14];
};

struct kvm_create_guest_memfd {
    uint64_t size;
    uint64_t flags;
    uint64_t reserved[6];
};

struct kvm_memory_attributes {
    uint64_t address;
    uint64_t size;
    uint64_t attributes;
    uint64_t flags;
};

struct kvm_enable_cap {
    uint32_t cap;
    uint32_t flags;
    uint64_t args[4];
    uint8_t pad[64];
};

struct kvm_one_reg {
    uint64_t id;
    uint64_t addr;
};

struct kvm_irq_level {
    uint32_t irq;
    uint32_t level;
};

struct kvm_ioeventfd {
    uint64_t datamatch;
    uint64_t addr;
    uint32_t len;
    int32_t fd;
    uint32_t flags;
    uint8_t pad[36];
};

struct kvm_irqfd {
    uint32_t fd;
    uint32_t gsi;
    uint32_t flags;
    uint32_t resamplefd;
    uint8_t pad[16];
};

struct kvm_create_device {
    uint32_t type;
    uint32_t fd;
    uint32_t flags;
};

struct kvm_device_attr {
    uint32_t flags;
    uint32_t group;
    uint64_t attr;
    uint64_t addr;
};

struct kvm_msi {
    uint32_t address_lo;
    uint32_t address_hi;
    uint32_t data;
    uint32_t flags;
    uint32_t devid;
    uint8_t pad[12];
};

struct kvm_run_io {
    uint8_t direction;
    uint8_t size;
    uint16_t port;
    uint32_t count;
    uint64_t data_offset;
};

struct kvm_run_mmio {
    uint64_t phys_addr;
    uint8_t data[8];
    uint32_t len;
    uint8_t is_write;
};

struct kvm_run_system_event {
    uint32_t type;
    uint32_t ndata;
    union {
        uint64_t flags;
        uint64_t data[16];
    };
};

struct kvm_run_riscv_sbi {
    uint64_t extension_id;
    uint64_t function_id;
    uint64_t args[6];
    uint64_t ret[2];
};

struct kvm_run_riscv_csr {
    unsigned long csr_num;
    unsigned long new_value;
    unsigned long write_mask;
    unsigned long ret_value;
};

struct kvm_run_internal {
    uint32_t suberror;
    uint32_t ndata;
    uint64_t data[16];
};

struct kvm_run_memory_fault {
    uint64_t flags;
    uint64_t gpa;
    uint64_t size;
};

struct kvm_run_fail_entry {
    uint64_t hardware_entry_failure_reason;
    uint32_t cpu;
};

struct kvm_run {
    uint8_t request_interrupt_window;
    uint8_t immediate_exit;
    uint8_t padding1[6];
    uint32_t exit_reason;
    uint8_t ready_for_interrupt_injection;
    uint8_t if_flag;
    uint16_t flags;
    uint64_t cr8;
    uint64_t apic_base;
    union {
        struct { uint64_t hardware_exit_reason; } hw;
        struct kvm_run_fail_entry fail_entry;
        struct kvm_run_io io;
        struct kvm_run_mmio mmio;
        struct kvm_run_system_event system_event;
        struct kvm_run_riscv_sbi riscv_sbi;
        struct kvm_run_riscv_csr riscv_csr;
        struct kvm_run_internal internal;
        struct kvm_run_memory_fault memory_fault;
        char padding[256];
    };
    uint64_t kvm_valid_regs;
    uint64_t kvm_dirty_regs;
    union {
        char padding[2048];
    } s;
};
"""

#: The core's FFI: generic KVM structures. Arch FFIs ``include()`` it.
ffi = load_ffi("kvm", GENERIC_CDEF)
