"""Virtio and PCI structures, declared once as cffi cdef text.

Every size and offset the plugin uses comes from these declarations (through
``ffi.sizeof``/``ffi.offsetof``), never from numbers typed by hand. The layouts are the
virtio 1.2 specification's (split rings, virtio-mmio version 2, virtio-pci modern
capabilities) and the PCI local bus specification's type 0 header.
"""

from __future__ import annotations

import struct

from vmm.core.kvm.ffiload import load_ffi

VIRTIO_CDEF = """
/* Split virtqueue (virtio 1.2, 2.7). Rings are followed by an event index. */
struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct virtq_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[];
};

struct virtq_used_elem {
    uint32_t id;
    uint32_t len;
};

struct virtq_used {
    uint16_t flags;
    uint16_t idx;
    struct virtq_used_elem ring[];
};

/* virtio-mmio version 2 register block (4.2.2); config space follows it. */
struct virtio_mmio_regs {
    uint32_t magic_value;
    uint32_t version;
    uint32_t device_id;
    uint32_t vendor_id;
    uint32_t device_features;
    uint32_t device_features_sel;
    uint32_t reserved0[2];
    uint32_t driver_features;
    uint32_t driver_features_sel;
    uint32_t reserved1[2];
    uint32_t queue_sel;
    uint32_t queue_num_max;
    uint32_t queue_num;
    uint32_t reserved2[2];
    uint32_t queue_ready;
    uint32_t reserved3[2];
    uint32_t queue_notify;
    uint32_t reserved4[3];
    uint32_t interrupt_status;
    uint32_t interrupt_ack;
    uint32_t reserved5[2];
    uint32_t status;
    uint32_t reserved6[3];
    uint32_t queue_desc_low;
    uint32_t queue_desc_high;
    uint32_t reserved7[2];
    uint32_t queue_driver_low;
    uint32_t queue_driver_high;
    uint32_t reserved8[2];
    uint32_t queue_device_low;
    uint32_t queue_device_high;
    uint32_t reserved9;
    uint32_t shm_sel;
    uint32_t shm_len_low;
    uint32_t shm_len_high;
    uint32_t shm_base_low;
    uint32_t shm_base_high;
    uint32_t queue_reset;
    uint32_t reserved10[14];
    uint32_t config_generation;
};

/* virtio-pci modern (4.1.4). */
struct virtio_pci_cap {
    uint8_t cap_vndr;
    uint8_t cap_next;
    uint8_t cap_len;
    uint8_t cfg_type;
    uint8_t bar;
    uint8_t id;
    uint8_t padding[2];
    uint32_t offset;
    uint32_t length;
};

struct virtio_pci_notify_cap {
    struct virtio_pci_cap cap;
    uint32_t notify_off_multiplier;
};

struct virtio_pci_cfg_cap {
    struct virtio_pci_cap cap;
    uint8_t pci_cfg_data[4];
};

struct virtio_pci_common_cfg {
    uint32_t device_feature_select;
    uint32_t device_feature;
    uint32_t driver_feature_select;
    uint32_t driver_feature;
    uint16_t config_msix_vector;
    uint16_t num_queues;
    uint8_t device_status;
    uint8_t config_generation;
    uint16_t queue_select;
    uint16_t queue_size;
    uint16_t queue_msix_vector;
    uint16_t queue_enable;
    uint16_t queue_notify_off;
    uint64_t queue_desc;
    uint64_t queue_driver;
    uint64_t queue_device;
    uint16_t queue_notify_data;
    uint16_t queue_reset;
};

/* PCI type 0 configuration header (PCI local bus 3.0, 6.1). */
struct pci_config_header {
    uint16_t vendor_id;
    uint16_t device_id;
    uint16_t command;
    uint16_t status;
    uint8_t revision_id;
    uint8_t prog_if;
    uint8_t subclass;
    uint8_t class_code;
    uint8_t cache_line_size;
    uint8_t latency_timer;
    uint8_t header_type;
    uint8_t bist;
    uint32_t bar[6];
    uint32_t cardbus_cis;
    uint16_t subsystem_vendor_id;
    uint16_t subsystem_id;
    uint32_t expansion_rom;
    uint8_t capabilities;
    uint8_t reserved[7];
    uint8_t interrupt_line;
    uint8_t interrupt_pin;
    uint8_t min_gnt;
    uint8_t max_lat;
};

/* MSI-X capability and table entry (PCI local bus 3.0, 6.8.2). */
struct pci_msix_cap {
    uint8_t cap_id;
    uint8_t cap_next;
    uint16_t control;
    uint32_t table;
    uint32_t pba;
};

struct msix_table_entry {
    uint32_t address_lo;
    uint32_t address_hi;
    uint32_t data;
    uint32_t vector_control;
};

/* virtio-blk (5.2). */
struct virtio_blk_config {
    uint64_t capacity;
    uint32_t size_max;
    uint32_t seg_max;
    uint16_t geometry_cylinders;
    uint8_t geometry_heads;
    uint8_t geometry_sectors;
    uint32_t blk_size;
    uint8_t physical_block_exp;
    uint8_t alignment_offset;
    uint16_t min_io_size;
    uint32_t opt_io_size;
    uint8_t writeback;
    uint8_t unused0;
    uint16_t num_queues;
    uint32_t max_discard_sectors;
    uint32_t max_discard_seg;
    uint32_t discard_sector_alignment;
    uint32_t max_write_zeroes_sectors;
    uint32_t max_write_zeroes_seg;
    uint8_t write_zeroes_may_unmap;
    uint8_t unused1[3];
};

struct virtio_blk_outhdr {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

struct virtio_blk_discard_write_zeroes {
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags;
};

/* virtio-console (5.3). */
struct virtio_console_config {
    uint16_t cols;
    uint16_t rows;
    uint32_t max_nr_ports;
    uint32_t emerg_wr;
};

/* virtio-net (5.1). */
struct virtio_net_config {
    uint8_t mac[6];
    uint16_t status;
    uint16_t max_virtqueue_pairs;
    uint16_t mtu;
};

struct virtio_net_hdr_v1 {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
    uint16_t num_buffers;
};

/* What virtio_net_hdr_v1 was before VERSION_1: what TUN writes without a size. */
struct virtio_net_hdr {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
};

/* TUN/TAP (linux/if.h, linux/if_tun.h). */
struct ifreq_flags {
    char ifr_name[16];
    short ifr_flags;
    uint8_t pad[22];
};
"""

#: The virtio plugin's FFI: every structure above.
ffi = load_ffi("virtio", VIRTIO_CDEF)


def sizeof(ctype: str) -> int:
    """``ffi.sizeof`` of one of the plugin's structures."""
    return ffi.sizeof(ctype)


def offsetof(ctype: str, *fields: str) -> int:
    """``ffi.offsetof`` of a (nested) field of one of the plugin's structures."""
    return ffi.offsetof(ctype, *fields)


#: ``struct`` codes of the fixed-width unsigned integers the declarations use.
_STRUCT_CODES = {"uint8_t": "B", "uint16_t": "H", "uint32_t": "I", "uint64_t": "Q"}


def struct_format(ctype: str) -> struct.Struct:
    """A little-endian ``struct.Struct`` with the layout cffi gives ``ctype``.

    For hot paths that read a whole structure at once (one ``unpack_from`` instead
    of a cdata and one attribute read per field). Only structures of unsigned
    integer fields without padding qualify; the fields come back in declaration
    order. Virtio structures are little-endian (virtio 1.2, 1.4).
    """
    codes = []
    offset = 0
    for name, field in ffi.typeof(ctype).fields:
        code = _STRUCT_CODES.get(field.type.cname)
        if code is None or field.offset != offset:
            raise TypeError(f"{ctype}.{name} can't be read with a struct format")
        codes.append(code)
        offset += ffi.sizeof(field.type)
    layout = struct.Struct("<" + "".join(codes))
    if layout.size != ffi.sizeof(ctype):
        raise TypeError(f"{ctype} has trailing padding")
    return layout
