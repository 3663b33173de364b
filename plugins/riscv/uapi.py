"""The riscv KVM UAPI (arch/riscv/include/uapi/asm/kvm.h), declared once as cffi cdef.

ONE_REG ids are computed from the offsets of fields in these structs, as the
kernel's ``KVM_REG_RISCV_*_REG(name)`` macros do; ioctl numbers come from
:class:`~vmm.core.kvm.ioc.IoctlTable`. The riscv Image header is declared here too, so
the loader reads its fields by offset from cffi, never by typed numbers.
"""

from __future__ import annotations

from vmm.core.kvm import cdefs
from vmm.core.kvm.ffiload import load_ffi
from vmm.core.kvm.ioc import IoctlTable

RISCV_CDEF = """
struct user_regs_struct {
    unsigned long pc;
    unsigned long ra, sp, gp, tp;
    unsigned long t0, t1, t2;
    unsigned long s0, s1;
    unsigned long a0, a1, a2, a3, a4, a5, a6, a7;
    unsigned long s2, s3, s4, s5, s6, s7, s8, s9, s10, s11;
    unsigned long t3, t4, t5, t6;
};

struct kvm_riscv_config {
    unsigned long isa;
    unsigned long zicbom_block_size;
    unsigned long mvendorid;
    unsigned long marchid;
    unsigned long mimpid;
    unsigned long zicboz_block_size;
    unsigned long satp_mode;
    unsigned long zicbop_block_size;
};

struct kvm_riscv_core {
    struct user_regs_struct regs;
    unsigned long mode;
};

struct kvm_riscv_csr {
    unsigned long sstatus;
    unsigned long sie;
    unsigned long stvec;
    unsigned long sscratch;
    unsigned long sepc;
    unsigned long scause;
    unsigned long stval;
    unsigned long sip;
    unsigned long satp;
    unsigned long scounteren;
    unsigned long senvcfg;
};

struct kvm_riscv_timer {
    uint64_t frequency;
    uint64_t time;
    uint64_t compare;
    uint64_t state;
};

struct kvm_interrupt {
    uint32_t irq;
};

/* Documentation/arch/riscv/boot-image-header.rst */
struct riscv_image_header {
    uint32_t code0;
    uint32_t code1;
    uint64_t text_offset;
    uint64_t image_size;
    uint64_t flags;
    uint32_t version;
    uint32_t res1;
    uint64_t res2;
    uint64_t magic;
    uint32_t magic2;
    uint32_t res3;
};
"""

#: The riscv FFI: the core's generic structures plus the ones above.
ffi = load_ffi("riscv", RISCV_CDEF, include=cdefs.ffi)

_t = IoctlTable(ffi)
KVM_INTERRUPT = _t.iow("KVM_INTERRUPT", 0x86, "struct kvm_interrupt")

# KVM_INTERRUPT arguments: raise or lower the vCPU's external interrupt.
KVM_INTERRUPT_SET = (1 << 32) - 1  # -1U
KVM_INTERRUPT_UNSET = (1 << 32) - 2  # -2U

# include/uapi/linux/kvm.h: the ONE_REG id's arch and size fields.
KVM_REG_RISCV = 1 << 63
KVM_REG_SIZE_SHIFT = 52

# arch/riscv/include/uapi/asm/kvm.h: register types and subtypes.
KVM_REG_RISCV_TYPE_SHIFT = 24
KVM_REG_RISCV_SUBTYPE_SHIFT = 16
KVM_REG_RISCV_CONFIG = 0x01
KVM_REG_RISCV_CORE = 0x02
KVM_REG_RISCV_CSR = 0x03
KVM_REG_RISCV_TIMER = 0x04
KVM_REG_RISCV_ISA_EXT = 0x07
KVM_REG_RISCV_SBI_EXT = 0x08
KVM_REG_RISCV_SINGLE = 0x0  # the ISA_SINGLE / SBI_SINGLE subtype

KVM_RISCV_MODE_S = 1
KVM_RISCV_TIMER_STATE_ON = 1

# enum KVM_RISCV_SBI_EXT_ID: the SBI extensions user space may switch on and off.
KVM_RISCV_SBI_EXT_DBCN = 9

# Capabilities and device types (include/uapi/linux/kvm.h).
KVM_CAP_IRQCHIP = 0
KVM_CAP_IRQFD = 32
KVM_CAP_IOEVENTFD = 36
KVM_CAP_ONE_REG = 70
KVM_CAP_DEVICE_CTRL = 89
KVM_DEV_TYPE_RISCV_AIA = 11

# The AIA device's attributes.
KVM_DEV_RISCV_APLIC_ALIGN = 0x1000
KVM_DEV_RISCV_APLIC_SIZE = 0x4000
KVM_DEV_RISCV_IMSIC_ALIGN = 0x1000
KVM_DEV_RISCV_IMSIC_SIZE = 0x1000
KVM_DEV_RISCV_AIA_GRP_CONFIG = 0
KVM_DEV_RISCV_AIA_CONFIG_MODE = 0
KVM_DEV_RISCV_AIA_CONFIG_IDS = 1
KVM_DEV_RISCV_AIA_CONFIG_SRCS = 2
KVM_DEV_RISCV_AIA_CONFIG_GROUP_BITS = 3
KVM_DEV_RISCV_AIA_CONFIG_GROUP_SHIFT = 4
KVM_DEV_RISCV_AIA_CONFIG_HART_BITS = 5
KVM_DEV_RISCV_AIA_CONFIG_GUEST_BITS = 6
KVM_DEV_RISCV_AIA_MODE_EMUL = 0
KVM_DEV_RISCV_AIA_MODE_HWACCEL = 1
KVM_DEV_RISCV_AIA_MODE_AUTO = 2
KVM_DEV_RISCV_AIA_IDS_MIN = 63
KVM_DEV_RISCV_AIA_IDS_MAX = 2048
KVM_DEV_RISCV_AIA_SRCS_MAX = 1024
KVM_DEV_RISCV_AIA_HART_BITS_MAX = 16
KVM_DEV_RISCV_AIA_GRP_ADDR = 1
KVM_DEV_RISCV_AIA_ADDR_APLIC = 0
KVM_DEV_RISCV_AIA_GRP_CTRL = 2
KVM_DEV_RISCV_AIA_CTRL_INIT = 0


def kvm_dev_riscv_aia_addr_imsic(vcpu_id: int) -> int:
    """The ADDR group attribute of one vCPU's IMSIC (``KVM_DEV_RISCV_AIA_ADDR_IMSIC``)."""
    return 1 + vcpu_id


#: Bytes of an ``unsigned long`` register (RV64: 8); CONFIG/CORE/CSR/ISA_EXT use it.
ULONG_SIZE = ffi.sizeof("unsigned long")
