"""The x86 KVM UAPI and boot structures: cffi cdef text (sizes and offsets come from
cffi), the x86 ioctls (numbers computed by IoctlTable) and x86 constants.

Three groups: the x86 KVM UAPI (arch/x86/include/uapi/asm/kvm.h), the Linux boot
protocol's zero page (asm/bootparam.h; packed), and the firmware tables vmm writes
for the guest (Intel MP specification 1.4 and Xen's PVH start info; packed).
``tests/x86/test_x86_headers.py`` compares the KVM and boot structures with the
host's headers.
"""

from __future__ import annotations

from vmm.core.kvm.cdefs import ffi as core_ffi
from vmm.core.kvm.ffiload import load_ffi
from vmm.core.kvm.ioc import IoctlTable

KVM_X86_CDEF = """
struct kvm_regs {
    uint64_t rax, rbx, rcx, rdx;
    uint64_t rsi, rdi, rsp, rbp;
    uint64_t r8, r9, r10, r11;
    uint64_t r12, r13, r14, r15;
    uint64_t rip, rflags;
};

struct kvm_segment {
    uint64_t base;
    uint32_t limit;
    uint16_t selector;
    uint8_t type;
    uint8_t present, dpl, db, s, l, g, avl;
    uint8_t unusable;
    uint8_t padding;
};

struct kvm_dtable {
    uint64_t base;
    uint16_t limit;
    uint16_t padding[3];
};

struct kvm_sregs {
    struct kvm_segment cs, ds, es, fs, gs, ss;
    struct kvm_segment tr, ldt;
    struct kvm_dtable gdt, idt;
    uint64_t cr0, cr2, cr3, cr4, cr8;
    uint64_t efer;
    uint64_t apic_base;
    uint64_t interrupt_bitmap[4];
};

struct kvm_fpu {
    uint8_t fpr[8][16];
    uint16_t fcw;
    uint16_t fsw;
    uint8_t ftwx;
    uint8_t pad1;
    uint16_t last_opcode;
    uint64_t last_ip;
    uint64_t last_dp;
    uint8_t xmm[16][16];
    uint32_t mxcsr;
    uint32_t pad2;
};

struct kvm_cpuid_entry2 {
    uint32_t function;
    uint32_t index;
    uint32_t flags;
    uint32_t eax;
    uint32_t ebx;
    uint32_t ecx;
    uint32_t edx;
    uint32_t padding[3];
};

struct kvm_cpuid2 {
    uint32_t nent;
    uint32_t padding;
    struct kvm_cpuid_entry2 entries[];
};

struct kvm_msr_entry {
    uint32_t index;
    uint32_t reserved;
    uint64_t data;
};

struct kvm_msrs {
    uint32_t nmsrs;
    uint32_t pad;
    struct kvm_msr_entry entries[];
};

struct kvm_pit_config {
    uint32_t flags;
    uint32_t pad[15];
};

struct kvm_mp_state {
    uint32_t mp_state;
};

struct kvm_vcpu_events {
    struct {
        uint8_t injected;
        uint8_t nr;
        uint8_t has_error_code;
        uint8_t pending;
        uint32_t error_code;
    } exception;
    struct {
        uint8_t injected;
        uint8_t nr;
        uint8_t soft;
        uint8_t shadow;
    } interrupt;
    struct {
        uint8_t injected;
        uint8_t pending;
        uint8_t masked;
        uint8_t pad;
    } nmi;
    uint32_t sipi_vector;
    uint32_t flags;
    struct {
        uint8_t smm;
        uint8_t pending;
        uint8_t smm_inside_nmi;
        uint8_t latched_init;
    } smi;
    struct {
        uint8_t pending;
    } triple_fault;
    uint8_t reserved[26];
    uint8_t exception_has_payload;
    uint64_t exception_payload;
};
"""

# The zero page (Documentation/arch/x86/boot.rst, asm/bootparam.h). Sub-structures
# vmm never fills (screen, APM, IST, EDID, EFI, EDD) are opaque byte arrays.
BOOT_PARAMS_CDEF = """
struct setup_header {
    uint8_t setup_sects;
    uint16_t root_flags;
    uint32_t syssize;
    uint16_t ram_size;
    uint16_t vid_mode;
    uint16_t root_dev;
    uint16_t boot_flag;
    uint16_t jump;
    uint32_t header;
    uint16_t version;
    uint32_t real_mode_switch;  /* the kernel abbreviates this name (see the header test) */
    uint16_t start_sys_seg;
    uint16_t kernel_version;
    uint8_t type_of_loader;
    uint8_t loadflags;
    uint16_t setup_move_size;
    uint32_t code32_start;
    uint32_t ramdisk_image;
    uint32_t ramdisk_size;
    uint32_t bootsect_kludge;
    uint16_t heap_end_ptr;
    uint8_t ext_loader_ver;
    uint8_t ext_loader_type;
    uint32_t cmd_line_ptr;
    uint32_t initrd_addr_max;
    uint32_t kernel_alignment;
    uint8_t relocatable_kernel;
    uint8_t min_alignment;
    uint16_t xloadflags;
    uint32_t cmdline_size;
    uint32_t hardware_subarch;
    uint64_t hardware_subarch_data;
    uint32_t payload_offset;
    uint32_t payload_length;
    uint64_t setup_data;
    uint64_t pref_address;
    uint32_t init_size;
    uint32_t handover_offset;
    uint32_t kernel_info_offset;
};

struct boot_e820_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
};

struct boot_params {
    uint8_t screen_info[64];
    uint8_t apm_bios_info[20];
    uint8_t _pad2[4];
    uint64_t tboot_addr;
    uint8_t ist_info[16];
    uint64_t acpi_rsdp_addr;
    uint8_t _pad3[8];
    uint8_t hd0_info[16];
    uint8_t hd1_info[16];
    uint8_t sys_desc_table[16];
    uint8_t olpc_ofw_header[16];
    uint32_t ext_ramdisk_image;
    uint32_t ext_ramdisk_size;
    uint32_t ext_cmd_line_ptr;
    uint8_t _pad4[112];
    uint32_t cc_blob_address;
    uint8_t edid_info[128];
    uint8_t efi_info[32];
    uint32_t alt_mem_k;
    uint32_t scratch;
    uint8_t e820_entries;
    uint8_t eddbuf_entries;
    uint8_t edd_mbr_sig_buf_entries;
    uint8_t kbd_status;
    uint8_t secure_boot;
    uint8_t _pad5[2];
    uint8_t sentinel;
    uint8_t _pad6[1];
    struct setup_header hdr;
    uint8_t _pad7[36];
    uint32_t edd_mbr_sig_buffer[16];
    struct boot_e820_entry e820_table[128];
    uint8_t _pad8[48];
    uint8_t eddbuf[492];
    uint8_t _pad9[276];
};
"""

# Intel MultiProcessor Specification 1.4, chapter 4, and Xen's
# include/public/arch-x86/hvm/start_info.h (the PVH boot ABI).
FIRMWARE_CDEF = """
struct mpf_intel {
    char signature[4];
    uint32_t physptr;
    uint8_t length;
    uint8_t specification;
    uint8_t checksum;
    uint8_t feature1;
    uint8_t feature2;
    uint8_t feature3;
    uint8_t feature4;
    uint8_t feature5;
};

struct mpc_table {
    char signature[4];
    uint16_t length;
    uint8_t spec;
    uint8_t checksum;
    char oem[8];
    char productid[12];
    uint32_t oemptr;
    uint16_t oemsize;
    uint16_t oemcount;
    uint32_t lapic;
    uint32_t reserved;
};

struct mpc_cpu {
    uint8_t type;
    uint8_t apicid;
    uint8_t apicver;
    uint8_t cpuflag;
    uint32_t cpufeature;
    uint32_t featureflag;
    uint32_t reserved[2];
};

struct mpc_bus {
    uint8_t type;
    uint8_t busid;
    char bustype[6];
};

struct mpc_ioapic {
    uint8_t type;
    uint8_t apicid;
    uint8_t apicver;
    uint8_t flags;
    uint32_t apicaddr;
};

struct mpc_intsrc {
    uint8_t type;
    uint8_t irqtype;
    uint16_t irqflag;
    uint8_t srcbus;
    uint8_t srcbusirq;
    uint8_t dstapic;
    uint8_t dstirq;
};

struct mpc_lintsrc {
    uint8_t type;
    uint8_t irqtype;
    uint16_t irqflag;
    uint8_t srcbusid;
    uint8_t srcbusirq;
    uint8_t destapic;
    uint8_t destapiclint;
};

struct hvm_start_info {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    uint64_t memmap_paddr;
    uint32_t memmap_entries;
    uint32_t reserved;
};

struct hvm_modlist_entry {
    uint64_t paddr;
    uint64_t size;
    uint64_t cmdline_paddr;
    uint64_t reserved;
};

struct hvm_memmap_table_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
    uint32_t reserved;
};
"""

#: The x86 plugin's FFI: the core's generic structures plus the ones above.
ffi = load_ffi("x86", KVM_X86_CDEF, packed=BOOT_PARAMS_CDEF + FIRMWARE_CDEF, include=core_ffi)

_t = IoctlTable(ffi)

# System fd
KVM_GET_SUPPORTED_CPUID = _t.iowr("KVM_GET_SUPPORTED_CPUID", 0x05, "struct kvm_cpuid2")

# VM fd
KVM_SET_TSS_ADDR = _t.io("KVM_SET_TSS_ADDR", 0x47)
KVM_SET_IDENTITY_MAP_ADDR = _t.iow("KVM_SET_IDENTITY_MAP_ADDR", 0x48, "uint64_t")
KVM_CREATE_PIT2 = _t.iow("KVM_CREATE_PIT2", 0x77, "struct kvm_pit_config")

# vCPU fd
KVM_GET_REGS = _t.ior("KVM_GET_REGS", 0x81, "struct kvm_regs")
KVM_SET_REGS = _t.iow("KVM_SET_REGS", 0x82, "struct kvm_regs")
KVM_GET_SREGS = _t.ior("KVM_GET_SREGS", 0x83, "struct kvm_sregs")
KVM_SET_SREGS = _t.iow("KVM_SET_SREGS", 0x84, "struct kvm_sregs")
KVM_GET_MSRS = _t.iowr("KVM_GET_MSRS", 0x88, "struct kvm_msrs")
KVM_SET_MSRS = _t.iow("KVM_SET_MSRS", 0x89, "struct kvm_msrs")
KVM_GET_FPU = _t.ior("KVM_GET_FPU", 0x8C, "struct kvm_fpu")
KVM_SET_FPU = _t.iow("KVM_SET_FPU", 0x8D, "struct kvm_fpu")
KVM_SET_CPUID2 = _t.iow("KVM_SET_CPUID2", 0x90, "struct kvm_cpuid2")
KVM_GET_MP_STATE = _t.ior("KVM_GET_MP_STATE", 0x98, "struct kvm_mp_state")
KVM_SET_MP_STATE = _t.iow("KVM_SET_MP_STATE", 0x99, "struct kvm_mp_state")
KVM_GET_VCPU_EVENTS = _t.ior("KVM_GET_VCPU_EVENTS", 0x9F, "struct kvm_vcpu_events")
KVM_SET_VCPU_EVENTS = _t.iow("KVM_SET_VCPU_EVENTS", 0xA0, "struct kvm_vcpu_events")

#: Every x86 ioctl above, by name (the header test walks it).
ALL = {value.name: value for value in list(globals().values()) if hasattr(value, "number")}

# Capabilities (KVM_CAP_*)
KVM_CAP_SET_TSS_ADDR = 4
KVM_CAP_EXT_CPUID = 7
KVM_CAP_PIT2 = 33
KVM_CAP_SET_IDENTITY_MAP_ADDR = 37

KVM_PIT_SPEAKER_DUMMY = 1
KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1
#: Entries asked of KVM_GET_SUPPORTED_CPUID (the kernel answers E2BIG when too few).
CPUID_MAX_ENTRIES = 256

KVM_MP_STATE_RUNNABLE = 0
KVM_MP_STATE_UNINITIALIZED = 1
KVM_MP_STATE_INIT_RECEIVED = 2
KVM_MP_STATE_HALTED = 3
KVM_INTERNAL_ERROR_EMULATION = 1
