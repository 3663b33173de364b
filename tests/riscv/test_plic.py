"""The PLIC emulated in vmm: priorities, enables, thresholds, claim/complete, delivery."""

from __future__ import annotations

import os
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmm.plugins.riscv.layout import PLIC as PLIC_WINDOW
from vmm.plugins.riscv.model import RiscvProfile
from vmm.plugins.riscv.plic import (
    CONTEXT_BASE,
    CONTEXT_CLAIM,
    CONTEXT_STRIDE,
    CONTEXT_THRESHOLD,
    ENABLE_BASE,
    ENABLE_STRIDE,
    PENDING_BASE,
    Plic,
)


class Outputs:
    """Records what the PLIC delivers to each context."""

    def __init__(self) -> None:
        self.events: list[tuple[int, bool]] = []

    def __call__(self, context: int, level: bool) -> None:
        self.events.append((context, level))


def make_plic(sources: int = 64, contexts: int = 2) -> tuple[Plic, Outputs]:
    outputs = Outputs()
    return Plic(sources, contexts, outputs), outputs


def enable(plic: Plic, context: int, *sources: int) -> None:
    bits = sum(1 << source for source in sources)
    for word in range(2):
        plic.io_write(ENABLE_BASE + context * ENABLE_STRIDE + 4 * word, 4,
                      (bits >> (32 * word)) & 0xFFFF_FFFF)


def claim(plic: Plic, context: int) -> int:
    return plic.io_read(CONTEXT_BASE + context * CONTEXT_STRIDE + CONTEXT_CLAIM, 4)


def complete(plic: Plic, context: int, source: int) -> None:
    plic.io_write(CONTEXT_BASE + context * CONTEXT_STRIDE + CONTEXT_CLAIM, 4, source)


def test_priority_zero_never_interrupts():
    plic, outputs = make_plic()
    enable(plic, 0, 5)
    plic.set_level(5, 1)
    assert outputs.events == [] and claim(plic, 0) == 0
    plic.io_write(4 * 5, 4, 1)
    assert outputs.events == [(0, True)]
    assert plic.io_read(4 * 5, 4) == 1


def test_claim_takes_the_highest_priority_then_the_lowest_id():
    plic, outputs = make_plic()
    for source, priority in ((3, 2), (7, 5), (9, 5)):
        plic.io_write(4 * source, 4, priority)
        plic.set_level(source, 1)
    enable(plic, 0, 3, 7, 9)
    assert plic.io_read(PENDING_BASE, 4) == (1 << 3) | (1 << 7) | (1 << 9)
    assert [claim(plic, 0), claim(plic, 0), claim(plic, 0), claim(plic, 0)] == [7, 9, 3, 0]
    assert outputs.events == [(0, True), (0, False)]
    assert plic.io_read(PENDING_BASE, 4) == 0


def test_threshold_masks_lower_priorities():
    plic, outputs = make_plic()
    plic.io_write(4 * 4, 4, 3)
    enable(plic, 1, 4)
    plic.io_write(CONTEXT_BASE + CONTEXT_STRIDE + CONTEXT_THRESHOLD, 4, 3)
    plic.set_level(4, 1)
    assert outputs.events == [] and claim(plic, 1) == 0
    plic.io_write(CONTEXT_BASE + CONTEXT_STRIDE + CONTEXT_THRESHOLD, 4, 2)
    assert outputs.events == [(1, True)]
    assert plic.io_read(CONTEXT_BASE + CONTEXT_STRIDE + CONTEXT_THRESHOLD, 4) == 2
    assert claim(plic, 1) == 4


def test_enable_is_per_context():
    plic, outputs = make_plic()
    plic.io_write(4 * 40, 4, 1)
    enable(plic, 1, 40)
    plic.set_level(40, 1)
    assert outputs.events == [(1, True)]
    assert claim(plic, 0) == 0
    assert plic.io_read(ENABLE_BASE + ENABLE_STRIDE + 4, 4) == 1 << 8
    assert claim(plic, 1) == 40


def test_level_source_is_pending_again_after_completion_while_high():
    plic, outputs = make_plic()
    plic.io_write(4 * 2, 4, 1)
    enable(plic, 0, 2)
    plic.set_level(2, 1)
    assert claim(plic, 0) == 2
    assert outputs.events == [(0, True), (0, False)]
    plic.set_level(2, 1)  # still high while claimed: nothing new
    assert outputs.events == [(0, True), (0, False)]
    complete(plic, 0, 2)
    assert outputs.events[-1] == (0, True)
    assert claim(plic, 0) == 2
    plic.set_level(2, 0)
    complete(plic, 0, 2)
    assert claim(plic, 0) == 0


def test_level_dropped_before_claim_clears_pending():
    plic, outputs = make_plic()
    plic.io_write(4 * 2, 4, 1)
    enable(plic, 0, 2)
    plic.set_level(2, 1)
    plic.set_level(2, 0)
    assert outputs.events == [(0, True), (0, False)]
    assert claim(plic, 0) == 0


def test_pulse_latches_until_claimed_and_while_claimed():
    plic, outputs = make_plic()
    plic.io_write(4 * 6, 4, 1)
    enable(plic, 0, 6)
    plic.pulse(6)
    assert claim(plic, 0) == 6
    plic.pulse(6)  # a second edge while being handled
    complete(plic, 0, 6)
    assert claim(plic, 0) == 6
    complete(plic, 0, 6)
    assert claim(plic, 0) == 0


def test_completion_of_an_unclaimed_or_disabled_source_is_ignored():
    plic, _ = make_plic()
    plic.io_write(4 * 6, 4, 1)
    enable(plic, 0, 6)
    plic.set_level(6, 1)
    assert claim(plic, 0) == 6
    complete(plic, 1, 6)  # not enabled in context 1
    complete(plic, 0, 0)
    complete(plic, 0, 1000)
    assert plic.claimed == 1 << 6
    complete(plic, 0, 6)
    assert plic.claimed == 0


def test_reserved_and_odd_accesses():
    plic, _ = make_plic()
    plic.io_write(0, 4, 7)  # source 0 has no priority
    assert plic.io_read(0, 4) == 0
    enable(plic, 0, 0)
    assert plic.io_read(ENABLE_BASE, 4) == 0
    plic.io_write(PENDING_BASE, 4, 0xFFFF_FFFF)  # read-only
    assert plic.io_read(PENDING_BASE, 4) == 0
    assert plic.io_read(4 * 1, 2) == 0  # only 32-bit accesses
    assert plic.io_read(CONTEXT_BASE + 5 * CONTEXT_STRIDE, 4) == 0  # no such context
    plic.io_write(4 * 1, 4, 0xFF)
    assert plic.io_read(4 * 1, 4) == 7
    with pytest.raises(ValueError):
        plic.set_level(64, 1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 63), st.integers(0, 7)), min_size=1, max_size=20),
       st.integers(0, 7))
def test_claims_come_in_priority_order(sources, threshold):
    plic, _ = make_plic()
    priorities = dict(sources)
    for source, priority in priorities.items():
        plic.io_write(4 * source, 4, priority)
        plic.set_level(source, 1)
    enable(plic, 0, *priorities)
    plic.io_write(CONTEXT_BASE + CONTEXT_THRESHOLD, 4, threshold)
    expected = sorted((source for source, priority in priorities.items() if priority > threshold),
                      key=lambda source: (-priorities[source], source))
    claimed = []
    while source := claim(plic, 0):
        claimed.append(source)
    assert claimed == expected
    assert not plic.output(0)


# ---------------------------------------------------------------- through the VM


def _plic_vm(riscv_vm, **kwargs):
    return riscv_vm(profile=RiscvProfile(aia=False), cpus=2, **kwargs).build()


def test_uart_interrupt_reaches_the_vcpu_with_kvm_interrupt(riscv_vm):
    vm = _plic_vm(riscv_vm)
    base = PLIC_WINDOW.start
    chip = vm.vm.irqchip
    line = 1  # the UART's
    vm.mmio_write(base + 4 * line, 1)
    vm.mmio_write(base + ENABLE_BASE + ENABLE_STRIDE, 1 << line)  # context 1 = hart 1
    vm.mmio_write(0x3F8 + 1, 0x02, size=1)  # UART IER: THR empty interrupt
    vcpus = vm.backend.system.vms[-1].vcpus
    assert vcpus[1].arch["external_irq"] is True
    assert vcpus[0].arch["external_irq"] is False
    assert "vcpu1: KVM_INTERRUPT(set)" in vm.ioctl_log()
    assert vm.mmio_read(base + CONTEXT_BASE + CONTEXT_STRIDE + CONTEXT_CLAIM) == line
    assert vcpus[1].arch["external_irq"] is False
    assert "vcpu1: KVM_INTERRUPT(unset)" in vm.ioctl_log()
    assert chip.fdt_interrupt(line) == [line]


def test_irqfd_is_relayed_by_a_thread(riscv_vm):
    vm = _plic_vm(riscv_vm)
    chip = vm.vm.irqchip
    line = chip.allocate()
    plic = chip.plic
    plic.io_write(4 * line, 4, 1)
    enable(plic, 0, line)
    eventfd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
    try:
        chip.irqfd(line, eventfd)
        os.eventfd_write(eventfd, 1)
        deadline = time.monotonic() + 5
        while not plic.output(0) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert plic.output(0)
        assert claim(plic, 0) == line
    finally:
        chip.close()
        os.close(eventfd)


def test_lines_run_out_with_a_one_line_error(riscv_vm):
    from vmm.core.errors import ConfigError

    vm = _plic_vm(riscv_vm)
    chip = vm.vm.irqchip
    with pytest.raises(ConfigError, match="interrupt lines are taken"):
        for _ in range(64):
            chip.allocate()
