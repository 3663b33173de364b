"""irqfds on the in-kernel AIA: every eventfd write must be a full pulse of the source.

riscv KVM's own KVM_IRQFD raises an APLIC source and never lowers it, so a rising-edge
source (as irqfd lines are described) fires once; virtio-blk then waited forever for
its second completion interrupt. The facade relays the eventfd instead.
"""

from __future__ import annotations

import os
import time

KVM_IRQ_LINE_PREFIX = "vm: KVM_IRQ_LINE("


def _irq_line_calls(vm, line: int) -> list[str]:
    return [entry for entry in vm.ioctl_log()
            if entry.startswith(KVM_IRQ_LINE_PREFIX) and f"irq={line:#x} " in entry]


def _wait_for(predicate, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_each_eventfd_write_raises_then_lowers_the_source(riscv_vm):
    vm = riscv_vm().build()
    chip = vm.vm.irqchip
    assert chip.kind == "aia"
    line = chip.allocate()
    eventfd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
    try:
        chip.irqfd(line, eventfd)
        for writes in (1, 2, 3):
            os.eventfd_write(eventfd, 1)
            assert _wait_for(lambda calls=2 * writes: len(_irq_line_calls(vm, line)) == calls)
    finally:
        chip.close()
        os.close(eventfd)
    levels = [entry.split("level=")[1].split(")")[0] for entry in _irq_line_calls(vm, line)]
    assert levels == ["1", "0"] * 3  # three rising edges: the source is low after each
    assert not any("KVM_IRQFD" in entry for entry in vm.ioctl_log())
    assert chip.fdt_interrupt(line) == [line, 1]  # pulses: rising edge in the DT


def test_close_stops_the_relay_and_is_idempotent(riscv_vm):
    vm = riscv_vm().build()
    chip = vm.vm.irqchip
    line = chip.allocate()
    eventfd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
    try:
        chip.irqfd(line, eventfd)
        chip.close()
        chip.close()
        os.eventfd_write(eventfd, 1)
        time.sleep(0.05)
        assert _irq_line_calls(vm, line) == []
    finally:
        os.close(eventfd)
