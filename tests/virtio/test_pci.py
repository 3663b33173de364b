"""virtio-pci on the x86 model (mechanism #1, MSI-X) and the riscv model (ECAM, INTx)."""

from __future__ import annotations

import pytest

from vmm.plugins.virtio.wiring import KEY

from .conftest import guest_allocator
from .guest import F_EVENT_IDX, F_VERSION_1, PciGuest, wait_for

BAR_SIZE = 0x8000


def cf8_accessors(vm, slot: int):
    """Read/write configuration space of 00:slot.0 through ports 0xCF8/0xCFC."""
    def select(offset):
        vm.pio.write(0xCF8, 4, 1 << 31 | slot << 11 | (offset & 0xFC))

    def read(offset, size):
        select(offset)
        return vm.pio.read(0xCFC + (offset & 3), size)

    def write(offset, size, value):
        select(offset)
        vm.pio.write(0xCFC + (offset & 3), size, value)

    return read, write


def ecam_accessors(vm, slot: int):
    base = vm.layout.windows["pci_ecam"].start + (slot << 15)
    return (lambda offset, size: vm.mmio.read(base + offset, size),
            lambda offset, size, value: vm.mmio.write(base + offset, size, value))


def test_x86_bus_has_a_host_bridge_and_modern_virtio_functions(model_vm, disk_image):
    vm = model_vm("x86", disk=[str(disk_image)], rng=True).vm
    read, _ = cf8_accessors(vm, 0)
    assert read(0x0A, 2) == 0x0600  # host bridge class
    ids = [cf8_accessors(vm, slot)[0](0, 4) for slot in (1, 2)]
    assert ids == [0x1042 << 16 | 0x1AF4, 0x1044 << 16 | 0x1AF4]
    assert cf8_accessors(vm, 3)[0](0, 4) == 0xFFFFFFFF  # empty slot
    vm.pio.write(0xCF8, 4, 0)  # mechanism disabled: all ones
    assert vm.pio.read(0xCFC, 4) == 0xFFFFFFFF


def test_capabilities_list_every_virtio_structure_and_msix(model_vm, disk_image):
    vm = model_vm("x86", disk=[str(disk_image)]).vm
    read, write = cf8_accessors(vm, 1)
    guest = PciGuest(vm, read, write, guest_allocator(vm))
    assert set(guest.caps) == {1, 2, 3, 4, 5, 0x11}
    assert read(0x06, 2) & 0x10  # capability list present
    assert read(guest.caps[0x11][1] + 2, 2) & 0x7FF == 1  # two vectors: queue + config


def test_bar_sizing_and_moving_the_bar_moves_the_ioeventfds(model_vm):
    model = model_vm("x86", rng=True)
    vm = model.vm
    read, write = cf8_accessors(vm, 1)
    original = read(0x10, 4)
    write(0x04, 2, 0)  # memory decode off while sizing, as Linux does
    assert vm.mmio.find(original) is None
    write(0x10, 4, 0xFFFFFFFF)
    assert read(0x10, 4) == (~(BAR_SIZE - 1)) & 0xFFFFFFFF
    moved = original + 0x100000
    write(0x10, 4, moved)
    write(0x04, 2, 0x6)
    assert vm.mmio.find(moved) is not None and vm.mmio.find(original) is None
    log = model.ioctl_log()
    assert f"vm: KVM_IOEVENTFD(addr={original + 0x3000:#x} len=2 flags=0x4)" in log
    assert log[-1] == f"vm: KVM_IOEVENTFD(addr={moved + 0x3000:#x} len=2 flags=0x0)"


def test_rng_with_msix_sends_kvm_signal_msi(model_vm):
    model = model_vm("x86", rng=True)
    vm = model.vm
    read, write = cf8_accessors(vm, 1)
    guest = PciGuest(vm, read, write, guest_allocator(vm))
    table = guest.bar + guest.caps[0x11][0]
    vm.mmio.write(table, 4, 0xFEE00000)  # vector 0: LAPIC 0, vector 0x41, unmasked
    vm.mmio.write(table + 8, 4, 0x41)
    vm.mmio.write(table + 12, 4, 0)
    control = guest.caps[0x11][1] + 2
    write(control, 2, 1 << 15)  # MSI-X enable
    (ring,) = guest.start(F_VERSION_1 | F_EVENT_IDX, 1, msix_vector=0)
    head, _ = ring.add([(32, True)])
    ring.set_used_event(0)
    guest.notify(0)
    assert wait_for(ring.used) == [(head, 32)]
    msis = wait_for(lambda: model.backend.system.vms[-1].msis)
    assert msis == [(0xFEE00000, 0x41, None)]


def test_arm64_msix_through_the_its_carries_the_requester_id(model_vm):
    from vmm.plugins.arm64.model_its import GITS_TRANSLATER

    model = model_vm("arm64", rng=True, virtio_transport="pci", irqchip="gicv3-its")
    vm = model.vm
    read, write = ecam_accessors(vm, 1)
    guest = PciGuest(vm, read, write, guest_allocator(vm))
    doorbell = vm.irqchip.its.base + GITS_TRANSLATER
    table = guest.bar + guest.caps[0x11][0]
    vm.mmio.write(table, 4, doorbell & 0xFFFFFFFF)  # vector 0: the ITS, event 5
    vm.mmio.write(table + 4, 4, doorbell >> 32)
    vm.mmio.write(table + 8, 4, 5)
    vm.mmio.write(table + 12, 4, 0)
    write(guest.caps[0x11][1] + 2, 2, 1 << 15)  # MSI-X enable
    (ring,) = guest.start(F_VERSION_1 | F_EVENT_IDX, 1, msix_vector=0)
    head, _ = ring.add([(32, True)])
    ring.set_used_event(0)
    guest.notify(0)
    assert wait_for(ring.used) == [(head, 32)]
    assert wait_for(lambda: model.backend.system.vms[-1].msis) == [(doorbell, 5, 1 << 3)]


def test_masked_vector_is_pending_until_unmasked(model_vm):
    model = model_vm("x86", rng=True)
    vm = model.vm
    read, write = cf8_accessors(vm, 1)
    control = PciGuest(vm, read, write, guest_allocator(vm)).caps[0x11][1] + 2
    msix = vm.stash[KEY].transports[0].msix
    write(control, 2, 1 << 15)
    assert msix.signal(0)  # masked at reset: pending, nothing sent
    assert model.backend.system.vms[-1].msis == [] and msix.pba_read(0, 8) == 1
    msix.table_write(0, 4, 0xFEE00000)
    msix.table_write(12, 4, 0)  # unmask: delivered now
    assert model.backend.system.vms[-1].msis == [(0xFEE00000, 0, None)]
    assert msix.pba_read(0, 8) == 0


def test_msix_message_control_honours_byte_and_dword_writes(model_vm):
    """Only Enable (bit 15) and Function Mask (bit 14) are writable, whatever the
    access size: a byte write to the read-only low byte left Enable cleared, and a
    dword write at the capability's start did not set it."""
    vm = model_vm("x86", rng=True).vm
    read, write = cf8_accessors(vm, 1)
    cap = PciGuest(vm, read, write, guest_allocator(vm)).caps[0x11][1]
    msix = vm.stash[KEY].transports[0].msix
    table_size = msix.vectors - 1
    write(cap + 2, 2, 1 << 15)
    write(cap + 2, 1, 0)  # the low byte is read-only: Enable stays set
    assert msix.enabled and read(cap + 2, 2) == 1 << 15 | table_size
    write(cap + 2, 2, 0)
    assert not msix.enabled
    first = read(cap, 4)
    write(cap, 4, (first & 0xFFFF) | (1 << 15 | 1 << 14) << 16)  # as a dword at the start
    assert msix.enabled and read(cap + 2, 2) == 0xC000 | table_size
    assert read(cap, 4) & 0xFFFF == first & 0xFFFF  # capability ID and next untouched
    write(cap + 3, 1, 0)  # the high byte alone
    assert not msix.enabled and read(cap + 2, 2) == table_size
    write(cap + 2, 2, 0xFFFF)  # the table size can't be changed
    assert read(cap + 2, 2) == 0xC000 | table_size and read(cap, 1) == 0x11


def test_pci_cfg_capability_reaches_the_common_configuration(model_vm):
    vm = model_vm("x86", rng=True).vm
    read, write = cf8_accessors(vm, 1)
    guest = PciGuest(vm, read, write, guest_allocator(vm))
    cap = guest.caps[5][1]
    write(cap + 4, 1, 0)  # BAR 0
    write(cap + 8, 4, 18)  # common config num_queues
    write(cap + 12, 4, 2)
    assert read(cap + 16, 2) == 1


def test_riscv_pci_uses_ecam_intx_and_writes_a_host_node(model_vm, disk_image):
    model = model_vm("riscv", disk=[str(disk_image)], virtio_transport="pci")
    vm = model.vm
    read, write = ecam_accessors(vm, 1)
    assert read(0, 4) == 0x1042 << 16 | 0x1AF4
    transport = vm.stash[KEY].transports[0]
    assert transport.msix is None and read(0x3D, 1) == 1  # INTA
    guest = PciGuest(vm, read, write, guest_allocator(vm))
    header = bytes(4) + bytes(4) + (0).to_bytes(8, "little")  # IN sector 0
    (ring,) = guest.start(F_VERSION_1, 1)
    head, addresses = ring.add([(header, False), (512, True), (1, True)])
    guest.notify(0)
    assert wait_for(ring.used) == [(head, 513)]
    assert vm.memory.read(addresses[1], 10) == b"sector0000"
    assert wait_for(lambda: transport.isr)  # INTx asserted until the ISR is read
    assert guest.isr() == 1 and guest.isr() == 0
    dtb = vm.memory.read(vm.dtb.guest_start, vm.dtb.file_size)
    assert b"pci-host-ecam-generic" in dtb and b"interrupt-map" in dtb


def test_arm64_pci_node_comes_from_the_arch_plugin_with_our_intx_lines(model_vm):
    vm = model_vm("arm64", rng=True, virtio_transport="pci").vm
    ecam = vm.mmio.find(vm.layout.windows["pci_ecam"].start)[1]
    transport = vm.stash[KEY].transports[0]
    assert ecam.intx_lines() == {1: transport.intx.line}
    dtb = vm.memory.read(vm.dtb.guest_start, vm.dtb.file_size)
    assert dtb.count(b"pci-host-ecam-generic") == 1


def test_x86_refuses_virtio_mmio(vmm_vm):
    from vmm.core.errors import ConfigError

    with pytest.raises(ConfigError, match="x86 guests find virtio devices on pci only"):
        vmm_vm("x86", options={"rng": True, "virtio_transport": "mmio"})
