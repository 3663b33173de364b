"""The arm64 device tree, built in the late stage and written at the DTB address.

The same VM gives the same bytes: nodes and properties come in a fixed order and
nothing depends on time or host addresses.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from vmm.core.errors import ImageError
from vmm.core.fdt import FdtBuilder

from . import layout as mm
from .irqchip import PMU_PPI, TIMER_PPIS, arm64_vgic, reg_cells
from .pci_node import write_pci_node
from .state import Arm64State

if TYPE_CHECKING:
    from vmm.core.vm import Vm

log = logging.getLogger(__name__)

UART_CLOCK_HZ = 1_843_200
UART_NODE = f"serial@{mm.UART_BASE:x}"
# PSCI 0.1 function ids KVM implements (asm/kvm.h KVM_PSCI_FN(n)).
KVM_PSCI_FN_BASE = 0x95C1BA5E
PSCI_0_1_FUNCTIONS = ("cpu_suspend", "cpu_off", "cpu_on", "migrate")


def build_device_tree(vm: Vm, state: Arm64State, psci_0_2: bool) -> bytes:
    """The whole DTB for ``vm`` (RAM, CPUs, PSCI, GIC, timer, PMU, UART, flash, PCI,
    other plugins' nodes through ``vmm_device_tree``, chosen)."""
    assert vm.layout is not None
    vgic = arm64_vgic(vm)
    fdt = FdtBuilder()
    vgic.phandle = fdt.allocate_phandle()
    if vgic.its is not None:
        vgic.its.phandle = fdt.allocate_phandle()
    fdt.begin_node("")
    fdt.property_string("compatible", "linux,dummy-virt")
    fdt.property_u32("#address-cells", 2)
    fdt.property_u32("#size-cells", 2)
    fdt.property_u32("interrupt-parent", vgic.phandle)
    _chosen(fdt, vm, state)
    with fdt.node(f"memory@{vm.layout.ram_start:x}"):
        fdt.property_string("device_type", "memory")
        fdt.property_cells("reg", reg_cells([(bank.start, bank.size) for bank in vm.layout.banks]))
    _cpus(fdt, state)
    _psci(fdt, vm, psci_0_2)
    vgic.write_fdt_node(fdt)
    cpus = len(vm.vcpus)
    with fdt.node("timer"):
        fdt.property_string_list("compatible", ["arm,armv8-timer", "arm,armv7-timer"])
        fdt.property_cells("interrupts", [cell for ppi in TIMER_PPIS for cell in vgic.ppi_cells(ppi, cpus)])
        fdt.property_empty("always-on")
    if state.pmu_enabled:
        with fdt.node("pmu"):
            fdt.property_string("compatible", "arm,armv8-pmuv3")
            fdt.property_cells("interrupts", vgic.ppi_cells(PMU_PPI, cpus))
    with fdt.node(UART_NODE):
        fdt.property_string("compatible", "ns16550a")
        fdt.property_cells("reg", reg_cells([(mm.UART_BASE, mm.UART_SIZE)]))
        fdt.property_u32("clock-frequency", UART_CLOCK_HZ)
        fdt.property_cells("interrupts", vgic.fdt_interrupt(state.devices["uart_line"]))
    flash = state.devices.get("flash")
    if flash is not None:
        with fdt.node(f"flash@{mm.FLASH_BASE:x}"):
            fdt.property_string("compatible", "cfi-flash")
            fdt.property_cells("reg", reg_cells([(mm.FLASH_BASE, flash.size)]))
            fdt.property_u32("bank-width", 4)
    write_pci_node(fdt, vm, vgic)
    vm.hook.vmm_device_tree(vm=vm, fdt=fdt)
    fdt.end_node()
    blob = fdt.finish()
    if len(blob) > mm.DTB_WINDOW:
        raise ImageError(
            f"the device tree is {len(blob)} bytes, more than its {mm.DTB_WINDOW >> 10} KiB window; "
            "use fewer devices or a shorter command line"
        )
    return blob


def _chosen(fdt: FdtBuilder, vm: Vm, state: Arm64State) -> None:
    with fdt.node("chosen"):
        fdt.property_string("bootargs", vm.config.params)
        fdt.property_string("stdout-path", f"/{UART_NODE}")
        if vm.initrd is not None:
            fdt.property_u64("linux,initrd-start", vm.initrd.guest_start)
            fdt.property_u64("linux,initrd-end", vm.initrd.guest_start + vm.initrd.file_size)


def _cpus(fdt: FdtBuilder, state: Arm64State) -> None:
    from .registers import MPIDR_HWID_MASK

    with fdt.node("cpus"):
        fdt.property_u32("#address-cells", 2)
        fdt.property_u32("#size-cells", 0)
        for mpidr in state.mpidrs:
            hwid = mpidr & MPIDR_HWID_MASK
            with fdt.node(f"cpu@{hwid:x}"):
                fdt.property_string("device_type", "cpu")
                fdt.property_string("compatible", "arm,arm-v8")
                fdt.property_string("enable-method", "psci")
                fdt.property_cells("reg", [hwid >> 32, hwid & 0xFFFF_FFFF])


def _psci(fdt: FdtBuilder, vm: Vm, psci_0_2: bool) -> None:
    method = vm.hook.vmm_psci_method(vm=vm) or "hvc"
    with fdt.node("psci"):
        if psci_0_2:
            fdt.property_string_list("compatible", ["arm,psci-0.2", "arm,psci"])
        else:
            fdt.property_string("compatible", "arm,psci")
        fdt.property_string("method", method)
        if not psci_0_2:
            for index, name in enumerate(PSCI_0_1_FUNCTIONS):
                fdt.property_u32(name, KVM_PSCI_FN_BASE + index)
