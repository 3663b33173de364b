"""The PCI host bridge node, written when a PCI host sits in the ``pci_ecam`` window.

Contract with the virtio plugin (which owns PCI): it registers its ECAM handler on
``vm.mmio`` at ``layout.windows["pci_ecam"].start`` and puts BARs in
``layout.windows["pci_mmio"]``. If that handler has an ``intx_lines()`` method
returning ``{slot: line}`` (lines from ``vm.irqchip.allocate()``), each slot's INTA
is routed to its line in ``interrupt-map``; ``ecam_size`` (default: one bus) sets
how much of the window the ``reg`` property covers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .irqchip import Vgic, reg_cells

if TYPE_CHECKING:
    from vmm.core.fdt import FdtBuilder
    from vmm.core.vm import Vm

#: ECAM bytes per bus: 32 devices x 8 functions x 4 KiB.
ECAM_BUS_SIZE = 1 << 20
#: ``ranges`` space code of 32-bit memory (PCI bus binding: ss = 10, in phys.hi).
PCI_SPACE_MEM32 = 0x0200_0000
#: ``interrupt-map-mask``: the device number (bits 15:11 of phys.hi) and the pin.
DEVICE_SHIFT = 11
DEVICE_MASK = 0x1F << DEVICE_SHIFT
PIN_MASK = 0x7
PIN_INTA = 1


def write_pci_node(fdt: FdtBuilder, vm: Vm, vgic: Vgic) -> None:
    """A ``pci-host-ecam-generic`` node, if something serves the ECAM window."""
    assert vm.layout is not None
    ecam = vm.layout.windows["pci_ecam"]
    mmio = vm.layout.windows["pci_mmio"]
    found = vm.mmio.find(ecam.start)
    if found is None:
        return
    host = found[1]
    ecam_size = min(getattr(host, "ecam_size", ECAM_BUS_SIZE), ecam.size)
    buses = max(ecam_size // ECAM_BUS_SIZE, 1)
    with fdt.node(f"pci@{ecam.start:x}"):
        fdt.property_string("compatible", "pci-host-ecam-generic")
        fdt.property_string("device_type", "pci")
        fdt.property_u32("#address-cells", 3)
        fdt.property_u32("#size-cells", 2)
        fdt.property_u32("#interrupt-cells", 1)
        fdt.property_cells("bus-range", [0, buses - 1])
        fdt.property_cells("reg", reg_cells([(ecam.start, ecam_size)]))
        fdt.property_cells("ranges", [PCI_SPACE_MEM32, mmio.start >> 32, mmio.start & 0xFFFF_FFFF,
                                      mmio.start >> 32, mmio.start & 0xFFFF_FFFF,
                                      mmio.size >> 32, mmio.size & 0xFFFF_FFFF])
        fdt.property_empty("dma-coherent")
        if vgic.its is not None:  # MSIs go to the ITS, tagged with the requester ID
            fdt.property_u32("msi-parent", vgic.its.phandle)
        lines = host.intx_lines() if hasattr(host, "intx_lines") else {}
        if lines:
            fdt.property_cells("interrupt-map-mask", [DEVICE_MASK, 0, 0, PIN_MASK])
            cells: list[int] = []
            for slot, line in sorted(lines.items()):
                cells += [slot << DEVICE_SHIFT, 0, 0, PIN_INTA, vgic.phandle, 0, 0]
                cells += vgic.fdt_interrupt(line)
            fdt.property_cells("interrupt-map", cells)
