"""The device status state machine (virtio 1.2, 2.1 and 3.1.1) on both transports.

A driver may only add status bits; writing 0 resets the device. A hostile driver
that clears DRIVER_OK and sets it again must not get a second I/O thread: before
the fix, 20 such toggles left 22 threads and ~40 fds that outlived the VM.
"""

from __future__ import annotations

import os
import threading

import pytest

from vmm.plugins.virtio.wiring import KEY

from .conftest import guest_allocator
from .guest import (
    ACKNOWLEDGE,
    DRIVER,
    DRIVER_OK,
    F_VERSION_1,
    FEATURES_OK,
    NEEDS_RESET,
    MmioGuest,
    PciGuest,
    wait_for,
)
from .test_pci import cf8_accessors

LIVE = ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK


def rng_threads(earlier: set[int | None]) -> int:
    """virtio-rng I/O threads alive now that were not in ``earlier``."""
    return sum(thread.name == "virtio-rng" and thread.is_alive()
               and thread.ident not in earlier for thread in threading.enumerate())


def thread_ids() -> set[int | None]:
    return {thread.ident for thread in threading.enumerate()}


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class StatusPort:
    """Reads and writes the status register (and drives a queue) on one transport."""

    def __init__(self, model, transport: str) -> None:
        self.earlier = thread_ids()
        vm = model.vm
        if transport == "mmio":
            self.guest = MmioGuest(vm, vm.stash[KEY].mmio[0].base, guest_allocator(vm))
            self.read = lambda: self.guest.read("status")
            self.write = lambda value: self.guest.write("status", value)
        else:
            read, write = cf8_accessors(vm, 1)
            self.guest = PciGuest(vm, read, write, guest_allocator(vm))
            self.read = lambda: self.guest.common_read("status")
            self.write = lambda value: self.guest.common_write("status", value)

    def threads(self) -> int:
        return rng_threads(self.earlier)


@pytest.fixture(params=["mmio", "pci"])
def port(request, model_vm):
    arch = "arm64" if request.param == "mmio" else "x86"
    model = model_vm(arch, rng=True)
    yield StatusPort(model, request.param)


def test_toggling_driver_ok_never_starts_a_second_io_thread(model_vm):
    for transport, arch in (("mmio", "arm64"), ("pci", "x86")):
        fds_before, earlier = open_fds(), thread_ids()
        model = model_vm(arch, rng=True)
        port = StatusPort(model, transport)
        (ring,) = port.guest.start(F_VERSION_1, 1)
        assert wait_for(lambda earlier=earlier: rng_threads(earlier) == 1)
        for _ in range(20):
            port.write(ACKNOWLEDGE | DRIVER | FEATURES_OK)  # DRIVER_OK cleared, no reset
            port.write(LIVE)
        assert rng_threads(earlier) == 1, f"{transport}: DRIVER_OK toggles started threads"
        # The one thread still serves the queue.
        head, _ = ring.add([(32, True)])
        port.guest.notify(0)
        assert wait_for(ring.used) == [(head, 32)]
        port.write(0)
        assert rng_threads(earlier) == 0, f"{transport}: a reset left the I/O thread running"
        model.teardown()
        assert rng_threads(earlier) == 0
        assert open_fds() <= fds_before, f"{transport}: fds leaked"


def test_a_driver_cannot_clear_status_bits_without_a_reset(port):
    port.guest.start(F_VERSION_1, 1)
    port.write(ACKNOWLEDGE | DRIVER)  # clears FEATURES_OK and DRIVER_OK
    status = port.read()
    assert status & LIVE == LIVE, "cleared bits must stay set until a reset"
    assert status & NEEDS_RESET, "a driver breaking the protocol must be told to reset"
    port.write(0)
    assert port.read() == 0


def test_driver_ok_without_features_ok_is_refused(port):
    port.write(0)
    port.write(ACKNOWLEDGE | DRIVER)
    port.write(ACKNOWLEDGE | DRIVER | DRIVER_OK)
    assert not port.read() & DRIVER_OK
    assert port.threads() == 0


def test_rewriting_the_same_status_changes_nothing(port):
    port.guest.start(F_VERSION_1, 1)
    for _ in range(5):
        port.write(LIVE)
    assert port.read() == LIVE and port.threads() == 1


def test_the_driver_cannot_set_needs_reset_itself(port):
    port.write(0)
    port.write(ACKNOWLEDGE | NEEDS_RESET)
    assert port.read() == ACKNOWLEDGE
