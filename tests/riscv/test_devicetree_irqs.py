"""The riscv device tree as Linux's drivers/of/irq.c reads it (see linux_irqs.py).

Regression: the IMSIC once named itself as interrupt-parent. With its
``#interrupt-cells = <0>``, Linux's of_irq_parse_one then succeeded for every index
past interrupts-extended, and fw_devlink counted the IMSIC's interrupts forever:
Debian's kernel hung in of_platform_default_populate_init with the in-kernel AIA.
"""

from __future__ import annotations

import pytest

from vmm.plugins.riscv.model import RiscvProfile

from .linux_irqs import ENDLESS, Tree


def _tree(riscv_vm, aia: bool, cpus: int) -> Tree:
    vm = riscv_vm(profile=RiscvProfile(aia=aia), cpus=cpus).build()
    return Tree(vm.vm.memory.read(vm.vm.dtb.guest_start, vm.vm.dtb.file_size))


def _controller(tree: Tree, aia: bool):
    return tree.node("/imsics@8000000" if aia else "/interrupt-controller@8000000")


@pytest.mark.parametrize("cpus", [1, 2, 3])
@pytest.mark.parametrize("aia", [True, False])
def test_every_interrupt_list_ends_where_it_is_written(riscv_vm, aia, cpus):
    tree = _tree(riscv_vm, aia, cpus)
    counts = {node.path: tree.interrupt_count(node) for node in tree.nodes}
    endless = [path for path, count in counts.items() if count >= ENDLESS]
    assert not endless, f"Linux would count these nodes' interrupts forever: {endless}"
    # One S-level external interrupt per hart, the UART's one line, nothing else.
    assert counts[_controller(tree, aia).path] == cpus
    assert counts["/serial@3f8"] == 1
    intcs = [node for node in tree.nodes if "riscv,cpu-intc" in node.strings("compatible")]
    assert len(intcs) == cpus
    assert all(counts[intc.path] == 0 for intc in intcs)


@pytest.mark.parametrize("cpus", [1, 2])
@pytest.mark.parametrize("aia", [True, False])
def test_harts_controllers_resolve_to_their_intcs(riscv_vm, aia, cpus):
    tree = _tree(riscv_vm, aia, cpus)
    controller = _controller(tree, aia)
    targets = [tree.parse_one(controller, index).path for index in range(cpus)]
    assert targets == [f"/cpus/cpu@{hart:x}/interrupt-controller" for hart in range(cpus)]
    device_parent = tree.parse_one(tree.node("/serial@3f8"), 0)
    assert device_parent.path == ("/aplic@c000000" if aia else controller.path)


@pytest.mark.parametrize("cpus", [1, 2])
def test_linux_starts_the_intcs_then_the_imsic_early(riscv_vm, cpus):
    started = [node.path for node in _tree(riscv_vm, True, cpus).early_init_order()]
    intcs = [f"/cpus/cpu@{hart:x}/interrupt-controller" for hart in range(cpus)]
    assert sorted(started[:cpus]) == intcs
    assert started[cpus:] == ["/imsics@8000000"]


