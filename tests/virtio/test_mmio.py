"""virtio-mmio on the arm64 model: registers, negotiation, the hook, devices, bad guests."""

from __future__ import annotations

import os

import pytest

from vmm import hookimpl
from vmm.plugins.virtio.wiring import KEY

from .conftest import guest_allocator
from .guest import (
    ACKNOWLEDGE,
    DRIVER,
    DRIVER_OK,
    F_EVENT_IDX,
    F_INDIRECT,
    F_VERSION_1,
    FEATURES_OK,
    NEEDS_RESET,
    MmioGuest,
    wait_for,
)

ACCESS_PLATFORM = 1 << 33


class ForceAccessPlatform:
    """A layer-like plugin: every virtio device must offer VIRTIO_F_ACCESS_PLATFORM."""

    @hookimpl
    def vmm_virtio_host_features(self, vm, device):
        return ACCESS_PLATFORM


def guests(vm) -> list[MmioGuest]:
    state = vm.vm.stash[KEY]
    alloc = guest_allocator(vm.vm)
    return [MmioGuest(vm.vm, transport.base, alloc) for transport in state.mmio]


def test_registers_identify_a_version_2_device(model_vm, disk_image):
    vm = model_vm("arm64", disk=[str(disk_image)], rng=True)
    blk, rng = guests(vm)
    assert blk.read("magic") == int.from_bytes(b"virt", "little")
    assert blk.read("version") == 2
    assert (blk.read("device_id"), rng.read("device_id")) == (2, 4)
    assert blk.config(0, 8) == 2048  # capacity in sectors of a 1 MiB image


def test_features_offer_version_1_ring_features_and_the_hooks_bits(model_vm, disk_image):
    first = model_vm("arm64", disk=[str(disk_image)])
    plain = guests(first)[0].features()
    first.teardown()  # its disk lock goes with it
    assert plain & F_VERSION_1 and plain & F_INDIRECT and plain & F_EVENT_IDX
    assert not plain & ACCESS_PLATFORM
    forced = model_vm("arm64", disk=[str(disk_image)],
                      extra_plugins=[("cca", ForceAccessPlatform())])
    assert guests(forced)[0].features() == plain | ACCESS_PLATFORM


def test_features_ok_needs_version_1_and_only_offered_bits(model_vm):
    rng = guests(model_vm("arm64", rng=True))[0]
    assert not rng.negotiate(F_INDIRECT) & FEATURES_OK  # no VERSION_1: legacy driver
    assert not rng.negotiate(F_VERSION_1 | 1 << 60) & FEATURES_OK  # never offered
    assert rng.negotiate(F_VERSION_1 | F_EVENT_IDX) & FEATURES_OK


def test_notifications_are_ioeventfds_and_interrupts_irqfds(model_vm):
    vm = model_vm("arm64", rng=True)
    base = vm.vm.stash[KEY].mmio[0].base
    assert f"vm: KVM_IOEVENTFD(addr={base + 0x50:#x} len=4 flags=0x1)" in vm.ioctl_log()
    assert any(line.startswith("vm: KVM_IRQFD") for line in vm.ioctl_log())


def test_rng_round_trip_with_interrupt(model_vm):
    vm = model_vm("arm64", rng=True)
    rng = guests(vm)[0]
    transport = vm.vm.stash[KEY].mmio[0]
    (ring,) = rng.start(F_VERSION_1 | F_EVENT_IDX | F_INDIRECT, 1)
    head, (address,) = ring.add([(64, True)])
    ring.set_used_event(0)
    rng.notify(0)
    assert wait_for(ring.used) == [(head, 64)]
    assert vm.vm.memory.read(address, 64) != bytes(64)
    assert wait_for(lambda: rng.read("int_status") & 1)
    assert os.eventfd_read(transport.irq.eventfd) >= 1  # the irqfd KVM would inject
    rng.write("int_ack", 1)
    assert rng.read("int_status") == 0


def test_block_round_trip_through_the_io_thread(model_vm, disk_image):
    vm = model_vm("arm64", disk=[str(disk_image)], dry_run=False)
    blk = guests(vm)[0]
    (ring,) = blk.start(F_VERSION_1 | F_INDIRECT, 1)
    header = (1).to_bytes(4, "little") + bytes(4) + (3).to_bytes(8, "little")  # OUT sector 3
    head, addresses = ring.add_indirect([(header, False), (b"W" * 512, False), (1, True)])
    blk.notify(0)
    assert wait_for(ring.used) == [(head, 1)]
    assert vm.vm.memory.read(addresses[2], 1) == b"\0"
    with open(disk_image, "rb") as image:
        image.seek(3 * 512)
        assert image.read(512) == b"W" * 512


def test_a_bad_chain_sets_needs_reset_and_the_device_recovers(model_vm):
    vm = model_vm("arm64", rng=True)
    rng = guests(vm)[0]
    (ring,) = rng.start(F_VERSION_1, 1)
    ring.write_desc(0, 0xDEAD_0000_0000, 64, 2)  # a buffer far outside guest RAM
    ring.publish(0)
    rng.notify(0)
    assert wait_for(lambda: rng.read("status") & NEEDS_RESET)
    assert rng.read("int_status") & 2  # configuration change interrupt
    # The driver resets the device and starts again: it works.
    (ring,) = rng.start(F_VERSION_1, 1)
    assert not rng.read("status") & NEEDS_RESET
    head, _ = ring.add([(16, True)])
    rng.notify(0)
    assert wait_for(ring.used) == [(head, 16)]


def test_queue_in_unmapped_memory_needs_reset_at_driver_ok(model_vm):
    vm = model_vm("arm64", rng=True)
    rng = guests(vm)[0]
    rng.negotiate(F_VERSION_1)
    rng.write("queue_sel", 0)
    rng.write("queue_num", 16)
    rng.write("desc_hi", 0x100)  # 1 TiB: no RAM there
    rng.write("queue_ready", 1)
    rng.write("status", ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK)
    assert rng.read("status") & NEEDS_RESET


def test_device_tree_has_a_virtio_mmio_node_per_device(model_vm, disk_image):
    vm = model_vm("arm64", disk=[str(disk_image)], rng=True)
    state = vm.vm.stash[KEY]
    dtb = vm.vm.memory.read(vm.vm.dtb.guest_start, vm.vm.dtb.file_size)
    for transport in state.mmio:
        assert f"virtio@{transport.base:x}".encode() in dtb
    assert dtb.count(b"virtio,mmio\0") == 2
    # Lines driven by irqfd are described as rising edges (arm64's IRQ_TYPE_EDGE_RISING).
    assert state.mmio[0].irq.fdt_interrupt()[-1] == 1


def test_mmio_window_missing_is_a_config_error(vmm_vm, monkeypatch):
    import vmm.plugins.virtio.wiring as wiring
    from vmm.core.errors import ConfigError

    monkeypatch.setattr(wiring, "MMIO_WINDOW", "no_such_window")
    vm = vmm_vm("arm64", options={"rng": True}, mem_mib=64)
    with pytest.raises(ConfigError, match="no 'no_such_window' window"):
        vm.build()
    assert vm.vm.mmio.find(0x3000000) is None


def test_reset_while_the_device_is_busy_does_not_deadlock(model_vm):
    """The vCPU resets the device while its I/O thread completes and interrupts."""
    import threading

    vm = model_vm("arm64", rng=True)
    rng = guests(vm)[0]
    for _ in range(20):
        (ring,) = rng.start(F_VERSION_1, 1)
        for _ in range(8):
            ring.add([(4096, True)])
        rng.notify(0)
        resetter = threading.Thread(target=rng.write, args=("status", 0), daemon=True)
        resetter.start()
        resetter.join(timeout=5)
        assert not resetter.is_alive(), "reset deadlocked against the I/O thread"
        assert rng.read("status") == 0 and rng.read("int_status") == 0
