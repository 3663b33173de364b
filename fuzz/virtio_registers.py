"""The virtio-mmio and virtio-pci register files, status state machine included.

Each input is a sequence of guest accesses (any offset in a device's window or in
PCI configuration space, any size, any value) to the virtio devices of a model VM
(an rng and a disk), as a vCPU's exits would deliver them. The state machine must
hold whatever the order: never more than one I/O thread per device, none after a
reset; a register access may not raise.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from typing import Any

from . import OneInput, Target
from .reader import Reader

SIZES = (1, 2, 4, 8)
PCI_CONFIG_ADDRESS, PCI_CONFIG_DATA = 0xCF8, 0xCFC


def _model(arch: str) -> Any:
    from vmm.core.testing.model_vm import make_model_vm

    workdir = tempfile.mkdtemp(prefix="vmm-fuzz-registers-")
    disk = os.path.join(workdir, "disk.img")
    with open(disk, "wb") as image:
        image.truncate(64 << 10)
    model = make_model_vm(arch, workdir=workdir, mem_mib=64, dry_run=False,
                          options={"rng": True, "disk": [disk]})
    model.build()
    shutil.rmtree(workdir)  # the disk stays open, the kernel is loaded: nothing left behind
    return model


def _io_threads() -> int:
    return sum(thread.name.startswith("virtio-") for thread in threading.enumerate())


def _check_and_reset(model: Any, transports: list[Any]) -> None:
    """At most one I/O thread per device; a reset (status 0) stops them all. The
    model's record of hook calls (for tests) is dropped: it would grow per input."""
    model.hook_calls.clear()
    model.hook_invocations.clear()
    assert _io_threads() <= len(transports), f"{_io_threads()} I/O threads"
    for transport in transports:
        transport.write_status(0)
    assert _io_threads() == 0, "an I/O thread outlived its device's reset"


def _replay(reader: Reader, windows: list[tuple[int, int]], access: Callable) -> None:
    while reader.left:
        op = reader.uint(1)
        base, size = windows[(op >> 2) % len(windows)]
        width = SIZES[op & 3]
        offset = reader.below(size)
        value = reader.uint(width) if op & 0x80 else None
        access(op, base + offset, width, value)


def _mmio() -> OneInput:
    from vmm.plugins.virtio.mmio import MMIO_SIZE
    from vmm.plugins.virtio.wiring import KEY

    model = _model("arm64")
    vm = model.vm
    transports = vm.stash[KEY].transports
    windows = [(transport.base, MMIO_SIZE) for transport in transports]

    def access(op: int, address: int, width: int, value: int | None) -> None:
        if value is None:
            vm.mmio.read(address, width)
        else:
            vm.mmio.write(address, width, value)

    def one_input(data: bytes) -> None:
        _replay(Reader(data), windows, access)
        _check_and_reset(model, transports)

    return one_input


def _pci() -> OneInput:
    from vmm.plugins.virtio.pci.virtio_pci import BAR_SIZE
    from vmm.plugins.virtio.wiring import KEY

    model = _model("x86")
    vm = model.vm
    transports = vm.stash[KEY].transports
    slots = len(transports) + 1  # the host bridge, then one function per device

    def access(op: int, address: int, width: int, value: int | None) -> None:
        if op & 0x40:  # configuration space, through mechanism #1's ports
            slot, offset = divmod(address, 256)
            vm.pio.write(PCI_CONFIG_ADDRESS, 4, 1 << 31 | slot << 11 | (offset & 0xFC))
            port, width = PCI_CONFIG_DATA + (offset & 3), min(width, 4)
            if value is None:
                vm.pio.read(port, width)
            else:
                vm.pio.write(port, width, value & ((1 << 8 * width) - 1))
        elif value is None:
            vm.mmio.read(address, width)
        else:
            vm.mmio.write(address, width, value)

    def one_input(data: bytes) -> None:
        bars = [(transport.config.bar_address(transport.bar), BAR_SIZE)
                for transport in transports]  # wherever the guest moved them
        _replay(Reader(data), bars + [(0, 256 * slots)], access)
        _check_and_reset(model, transports)

    return one_input


def _seeds() -> list[bytes]:
    """Driver-like sequences: status ACK|DRIVER, FEATURES_OK, DRIVER_OK, toggles."""
    mmio_status = 0x70
    writes = b"".join(bytes([0x80 | 2, mmio_status, 0, 0, 0, status, 0, 0, 0])
                      for status in (1, 3, 11, 15, 11, 15))
    return [writes, bytes(32)]


TARGETS = {
    "virtio-mmio": Target("virtio-mmio", "virtio-mmio registers and the status state "
                          "machine", _mmio, _seeds),
    "virtio-pci": Target("virtio-pci", "virtio-pci configuration space, BAR registers, "
                         "MSI-X and the status state machine", _pci, _seeds),
}
