"""The riscv device tree: deterministic, accepted by dtc, with the expected nodes."""

from __future__ import annotations

import pytest

from vmm import hookimpl
from vmm.plugins.riscv.devicetree import build_device_tree
from vmm.plugins.riscv.model import RiscvProfile

from .conftest import decompile, vmm


def _dtb(vm) -> bytes:
    return vm.vm.memory.read(vm.vm.dtb.guest_start, vm.vm.dtb.file_size)


@pytest.mark.parametrize("aia", [True, False])
def test_same_vm_same_bytes(riscv_vm, aia):
    first = _dtb(riscv_vm(profile=RiscvProfile(aia=aia), cpus=2).build())
    second = _dtb(riscv_vm(profile=RiscvProfile(aia=aia), cpus=2).build())
    assert first == second


def test_aia_tree(riscv_vm, tmp_path):
    vm = riscv_vm(cpus=2, params="quiet").build()
    text = decompile(_dtb(vm), tmp_path)
    for expected in (
        'compatible = "linux,dummy-virt";',
        'bootargs = "console=ttyS0 quiet";',
        'stdout-path = "/serial@3f8";',
        "memory@80000000 {",
        "reg = <0x00 0x80000000 0x00 0x10000000>;",
        "timebase-frequency = <0x989680>;",
        "cpu@0 {", "cpu@1 {",
        'riscv,isa-base = "rv64i";',
        'mmu-type = "riscv,sv48";',
        'compatible = "riscv,cpu-intc";',
        "imsics@8000000 {", 'compatible = "riscv,imsics";', "msi-controller;",
        "reg = <0x00 0x8000000 0x00 0x2000>;",
        "riscv,num-ids = <0xff>;",
        "aplic@c000000 {", 'compatible = "riscv,aplic";', "riscv,num-sources = <0x3f>;",
        'compatible = "ns16550a";',
        "interrupts = <0x01 0x04>;",
    ):
        assert expected in text, expected
    assert "riscv,isa = \"rv64imafdcv_svpbmt_sstc" in text
    # The harts' intcs are their own parents (roots for Linux's of_irq_init) and
    # the IMSIC's is the first hart's, not the APLIC the root node names for devices
    # (test_devicetree_irqs.py checks what Linux makes of that).
    intc = text.index('compatible = "riscv,cpu-intc";')
    assert "interrupt-parent = <0x01>;" in text[intc - 200 : intc]
    imsic = text.index("imsics@8000000 {")
    assert "interrupt-parent = <0x01>;" in text[imsic : imsic + 200]
    assert "phandle = <0x04>;" in text[imsic : text.index("aplic@")]
    assert "riscv,plic0" not in text


def test_plic_tree(riscv_vm, tmp_path):
    vm = riscv_vm(profile=RiscvProfile(aia=False), cpus=3).build()
    text = decompile(_dtb(vm), tmp_path)
    assert "interrupt-controller@8000000 {" in text
    assert 'compatible = "sifive,plic-1.0.0\\0riscv,plic0";' in text
    assert "riscv,ndev = <0x3f>;" in text
    assert "interrupts-extended = <0x01 0x09 0x02 0x09 0x03 0x09>;" in text
    assert "interrupts = <0x01>;" in text
    assert "imsics" not in text and "aplic" not in text


def test_initrd_and_console_in_chosen(riscv_vm, tmp_path):
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"\x07" * 5000)
    vm = riscv_vm(initrd=str(initrd), console="virtio", params="rdinit=/init").build()
    text = decompile(_dtb(vm), tmp_path)
    start = vm.vm.initrd.guest_start
    assert f"linux,initrd-start = <0x00 {start:#x}>;" in text
    assert f"linux,initrd-end = <0x00 {start + 5000:#x}>;" in text
    assert 'bootargs = "console=hvc0 rdinit=/init";' in text
    assert vm.vm.memory.read(start, 5000) == b"\x07" * 5000


def test_console_given_by_the_user_is_kept(riscv_vm, tmp_path):
    vm = riscv_vm(params="console=ttyS0,115200 earlycon=sbi").build()
    assert 'bootargs = "console=ttyS0,115200 earlycon=sbi";' in decompile(_dtb(vm), tmp_path)


class ExtraDevice:
    """A plugin adding a node through vmm_device_tree, on an irqchip line."""

    def __init__(self) -> None:
        self.line = 0

    @hookimpl
    def vmm_dev_init(self, vm):
        self.line = vm.irqchip.allocate()

    @hookimpl
    def vmm_device_tree(self, vm, fdt):
        with fdt.node("virtio_mmio@10000000"):
            fdt.property_string("compatible", "virtio,mmio")
            fdt.property_cells("reg", [0, 0x1000_0000, 0, 0x200])
            fdt.property_cells("interrupts", vm.irqchip.fdt_interrupt(self.line))


@pytest.mark.parametrize("aia, cells", [(True, "<0x02 0x04>"), (False, "<0x02>")])
def test_other_plugins_add_nodes(riscv_vm, tmp_path, aia, cells):
    vm = riscv_vm(profile=RiscvProfile(aia=aia), extra_plugins=[("extra", ExtraDevice())]).build()
    text = decompile(_dtb(vm), tmp_path)
    assert "virtio_mmio@10000000 {" in text
    assert f"interrupts = {cells};" in text


def test_irqfd_lines_are_edge_triggered_with_the_aia(riscv_vm):
    import os

    vm = riscv_vm().build()
    chip = vm.vm.irqchip
    line = chip.allocate()
    eventfd = os.eventfd(0, os.EFD_CLOEXEC)
    try:
        chip.irqfd(line, eventfd)
    finally:
        chip.close()
        os.close(eventfd)
    assert chip.fdt_interrupt(line) == [line, 1]
    assert build_device_tree(vm.vm) == build_device_tree(vm.vm)


def test_dtb_out_from_the_command_line(kernel_path, tmp_path):
    out = tmp_path / "board.dtb"
    result = vmm("run", "--arch", "riscv", "--dry-run", "-k", kernel_path, "--dtb-out", str(out))
    assert result.returncode == 0, result.stderr
    text = decompile(out.read_bytes(), tmp_path)
    assert "aplic@c000000" in text
    again = tmp_path / "again.dtb"
    assert vmm("run", "--arch", "riscv", "--dry-run", "-k", kernel_path,
               "--dtb-out", str(again)).returncode == 0
    assert again.read_bytes() == out.read_bytes()


def test_dtb_out_in_a_missing_directory_is_a_one_line_error(kernel_path, tmp_path):
    result = vmm("run", "--arch", "riscv", "--dry-run", "-k", kernel_path,
                 "--dtb-out", str(tmp_path / "nowhere" / "x.dtb"))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "--dtb-out" in result.stderr and "does not exist" in result.stderr
