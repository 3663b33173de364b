"""The CFI flash: query, identifier, program, erase, buffered program; the array is
mapped as a read-only memslot in read-array mode only; map failures are not silent."""

from __future__ import annotations

import errno

import pytest

from vmm.core.errors import VmmError
from vmm.plugins.arm64 import flash as cfi
from vmm.plugins.arm64.layout import FLASH_BASE
from vmm.plugins.arm64.state import arm64_state

SIZE = 1 << 20


@pytest.fixture
def flash_vm(arm64_vm, tmp_path):
    path = tmp_path / "flash.img"
    path.write_bytes(bytes(range(256)) * (SIZE // 256))
    vm = arm64_vm(options={"flash": str(path)}).build()
    return vm, path


def write(vm, offset: int, value: int, size: int = 4) -> None:
    vm.exit("mmio", addr=FLASH_BASE + offset, size=size, is_write=True,
            data=value.to_bytes(size, "little"))


def read(vm, offset: int, size: int = 4) -> int:
    vm.exit("mmio", addr=FLASH_BASE + offset, size=size, is_write=False)
    vm.exit("intr")  # the next KVM_RUN collects the answer
    kind, address, data = vm.completed_reads()[-1]
    assert address == FLASH_BASE + offset
    return int.from_bytes(data, "little")


def memslot(vm):
    slots = vm.backend.system.vms[-1].memslots
    return [slot for slot in slots.values() if slot.guest_phys_addr == FLASH_BASE]


def test_array_is_mapped_read_only_in_read_array_mode(flash_vm):
    vm, _ = flash_vm
    (slot,) = memslot(vm)
    assert slot.memory_size == SIZE and slot.flags == 2  # KVM_MEM_READONLY


def test_cfi_query_unmaps_and_read_array_maps_again(flash_vm):
    vm, _ = flash_vm
    write(vm, 0x55 * 4, cfi.CMD_QUERY)
    assert memslot(vm) == []
    assert [read(vm, index * 4) for index in (0x10, 0x11, 0x12)] == [ord("Q"), ord("R"), ord("Y")]
    assert read(vm, 0x27 * 4) == 20  # 2^20 bytes
    assert read(vm, 0x13 * 4) == 0x01  # Intel/Sharp command set
    write(vm, 0, cfi.CMD_READ_ARRAY)
    assert len(memslot(vm)) == 1


def test_identifier(flash_vm):
    vm, _ = flash_vm
    write(vm, 0, cfi.CMD_READ_ID)
    assert read(vm, 0) == cfi.MANUFACTURER_INTEL
    assert read(vm, 4) == cfi.DEVICE_ID


def test_program_clears_bits_and_erase_sets_them(flash_vm):
    vm, path = flash_vm
    flash = arm64_state(vm.vm).devices["flash"]
    write(vm, 0x100, cfi.CMD_PROGRAM)
    write(vm, 0x100, 0x0F0F0F0F)
    assert read(vm, 0x100) & cfi.STATUS_READY  # status mode after programming
    assert flash.array[0x100:0x104] == bytes(a & 0x0F for a in range(4))
    write(vm, 0x10000, cfi.CMD_ERASE)
    write(vm, 0x10000, cfi.CMD_CONFIRM)
    assert flash.array[0x10000:0x20000] == b"\xff" * 0x10000
    assert flash.array[0x100:0x104] == bytes(a & 0x0F for a in range(4))  # other block kept
    vm.teardown()
    assert path.read_bytes()[0x10000:0x10004] == b"\xff" * 4  # written back


def test_buffered_program(flash_vm):
    vm, _ = flash_vm
    flash = arm64_state(vm.vm).devices["flash"]
    write(vm, 0x200, cfi.CMD_BUFFERED_PROGRAM)
    write(vm, 0x200, 1)  # two words
    write(vm, 0x200, 0)
    write(vm, 0x204, 0)
    write(vm, 0x200, cfi.CMD_CONFIRM)
    assert flash.array[0x200:0x208] == bytes(8)
    assert read(vm, 0) == cfi.STATUS_READY


def test_bad_command_sets_error_bits(flash_vm):
    vm, _ = flash_vm
    write(vm, 0, 0x42)
    assert read(vm, 0) & (cfi.STATUS_PROGRAM_ERROR | cfi.STATUS_ERASE_ERROR)
    write(vm, 0, cfi.CMD_CLEAR_STATUS)
    assert read(vm, 0) == cfi.STATUS_READY


def test_a_map_failure_is_a_one_line_error(tmp_path):
    path = tmp_path / "f.img"
    path.write_bytes(b"\xff" * cfi.BLOCK_SIZE)

    def failing(mapped: bool) -> None:
        from vmm.core.errors import KvmError

        raise KvmError("KVM_SET_USER_MEMORY_REGION", errno.EINVAL)

    flash = cfi.CfiFlash(str(path), failing)
    try:
        with pytest.raises(VmmError, match="could not map the array: KVM_SET_USER_MEMORY_REGION") as raised:
            flash.set_mapped(True)
        assert "\n" not in str(raised.value)
        assert not flash.mapped
    finally:
        flash.close()
