"""The structures a kernel reads at boot, written once every image is in memory:
the Linux zero page (boot_params) or the PVH start info, with the e820 map, the
command line and the initrd."""

from __future__ import annotations

from typing import Any

from vmm.core.errors import ConfigError
from vmm.core.vm import Vm

from . import layout as m
from .bzimage import BOOT_FLAG, HDRS_MAGIC
from .e820 import build_e820, log_e820
from .state import LINUX_64, PVH, E820Entry, x86_state
from .uapi import ffi

LOADER_TYPE_UNDEFINED = 0xFF  # "a boot loader without an assigned id"
CAN_USE_HEAP = 1 << 7
HEAP_END = 0xFE00
#: The protocol version vmm announces for an ELF kernel without a setup header.
ELF_PROTOCOL = 0x020F
ELF_KERNEL_ALIGNMENT = 0x1000000
PVH_MAGIC = 0x336EC578  # "xEn3" with its top bit set
PVH_VERSION = 1
E820_MAX_ZEROPAGE = dict(ffi.typeof("struct boot_params").fields)["e820_table"].type.length


def _high(value: int) -> int:
    return value >> 32


def _low(value: int) -> int:
    return value & 0xFFFFFFFF


def write_cmdline(vm: Vm, limit: int) -> int:
    """Write the NUL-terminated command line; return its guest address."""
    cmdline = vm.config.params.encode()
    if len(cmdline) > limit:
        raise ConfigError(f"-p: the kernel command line is {len(cmdline)} bytes; this kernel "
                          f"accepts at most {limit}")
    vm.memory.write(m.CMDLINE_ADDR, cmdline + b"\0")
    return m.CMDLINE_ADDR


def write_zero_page(vm: Vm, e820: list[E820Entry], cmdline: int) -> None:
    """boot_params for the 64-bit boot protocol at the boot structure's address."""
    boot = x86_state(vm).boot
    assert boot is not None
    params: Any = ffi.new("struct boot_params *")
    raw = ffi.buffer(params)
    hdr_offset = ffi.offsetof("struct boot_params", "hdr")
    if boot.setup_header:
        raw[hdr_offset : hdr_offset + len(boot.setup_header)] = boot.setup_header
    else:  # an ELF vmlinux: announce a header of our own
        params.hdr.boot_flag = BOOT_FLAG
        params.hdr.header = HDRS_MAGIC
        params.hdr.version = ELF_PROTOCOL
        params.hdr.kernel_alignment = ELF_KERNEL_ALIGNMENT
    hdr = params.hdr
    hdr.type_of_loader = LOADER_TYPE_UNDEFINED
    hdr.loadflags |= CAN_USE_HEAP
    hdr.heap_end_ptr = HEAP_END
    hdr.cmd_line_ptr = _low(cmdline)
    params.ext_cmd_line_ptr = _high(cmdline)
    hdr.cmdline_size = boot.cmdline_size or m.CMDLINE_MAX - 1
    if vm.initrd is not None:
        hdr.ramdisk_image = _low(vm.initrd.guest_start)
        hdr.ramdisk_size = _low(vm.initrd.file_size)
        params.ext_ramdisk_image = _high(vm.initrd.guest_start)
        params.ext_ramdisk_size = _high(vm.initrd.file_size)
    if len(e820) > E820_MAX_ZEROPAGE:
        raise ConfigError(f"the e820 map has {len(e820)} entries; the zero page holds {E820_MAX_ZEROPAGE}")
    params.e820_entries = len(e820)
    for slot, entry in zip(params.e820_table, e820, strict=False):
        slot.addr, slot.size, slot.type = entry.addr, entry.size, entry.type
    vm.memory.write(boot.boot_struct, raw)


def write_pvh_start_info(vm: Vm, e820: list[E820Entry], cmdline: int) -> None:
    """hvm_start_info, then its memory map and module list (the initrd) right after."""
    boot = x86_state(vm).boot
    assert boot is not None
    info: Any = ffi.new("struct hvm_start_info *")
    entry_size = ffi.sizeof("struct hvm_memmap_table_entry")
    memmap_addr = boot.boot_struct + ffi.sizeof("struct hvm_start_info")
    modlist_addr = memmap_addr + len(e820) * entry_size
    memmap = ffi.new("struct hvm_memmap_table_entry[]", len(e820))
    for slot, entry in zip(memmap, e820, strict=True):
        slot.addr, slot.size, slot.type = entry.addr, entry.size, entry.type
    info.magic = PVH_MAGIC
    info.version = PVH_VERSION
    info.cmdline_paddr = cmdline
    info.memmap_paddr = memmap_addr
    info.memmap_entries = len(e820)
    modules = b""
    if vm.initrd is not None:
        module = ffi.new("struct hvm_modlist_entry *",
                         {"paddr": vm.initrd.guest_start, "size": vm.initrd.file_size})
        modules = bytes(ffi.buffer(module))
        info.nr_modules = 1
        info.modlist_paddr = modlist_addr
    if modlist_addr + len(modules) > m.PML4_ADDR:
        raise ConfigError("the PVH start info and its memory map outgrow their page")
    vm.memory.write(boot.boot_struct, ffi.buffer(info))
    vm.memory.write(memmap_addr, ffi.buffer(memmap))
    vm.memory.write(modlist_addr, modules)


def finish_boot_structures(vm: Vm) -> list[E820Entry]:
    """Build and log the e820 map, then the protocol's boot structure; return the map."""
    assert vm.layout is not None
    state = x86_state(vm)
    state.e820 = build_e820(vm.layout)
    log_e820(state.e820)
    boot = state.boot
    if boot is None or boot.protocol not in (LINUX_64, PVH):
        return state.e820  # a flat binary gets no boot structure
    cmdline = write_cmdline(vm, boot.cmdline_size or m.CMDLINE_MAX - 1)
    if boot.protocol == LINUX_64:
        write_zero_page(vm, state.e820, cmdline)
    else:
        write_pvh_start_info(vm, state.e820, cmdline)
    return state.e820

