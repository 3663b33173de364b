"""Device tree nodes for virtio: ``virtio,mmio`` devices and the PCI host bridge.

Written inside the root node, whose ``#address-cells`` and ``#size-cells`` are 2 on
arm64 and riscv (as the arch plugins write them). Interrupt specifiers come from the
arch's irqchip facade (``fdt_interrupt(line)``); the PCI host's ``interrupt-map``
also needs the facade's ``phandle`` and ``fdt_address_cells`` (the interrupt
controller's ``#address-cells``, 0 if absent).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from vmm.core.errors import ConfigError
from vmm.core.fdt import FdtError

from .mmio import MMIO_SIZE
from .pci.host import DEVFN_SLOT_SHIFT, ECAM_BUS_SIZE

if TYPE_CHECKING:
    from vmm.core.fdt import FdtBuilder

    from .wiring import VirtioState

log = logging.getLogger(__name__)

ROOT_CELLS = 2
CELL_BITS = 32
# PCI bus binding (IEEE 1275 PCI, 2.2.1.1): phys.hi space codes and fields.
PCI_SPACE_MEM32 = 0x02000000
PCI_SPACE_MEM64 = 0x03000000
PCI_DEVICE_SHIFT = 8 + DEVFN_SLOT_SHIFT  # device number position in phys.hi
PCI_DEVICE_MASK = 0x1F << PCI_DEVICE_SHIFT
PCI_PIN_MASK = 7
PCI_ADDRESS_CELLS = 3
PCI_INTERRUPT_CELLS = 1
INTX_PIN_A = 1


def cells(value: int, count: int = ROOT_CELLS) -> list[int]:
    """``value`` as ``count`` big-endian 32-bit cells."""
    return [(value >> (CELL_BITS * index)) & 0xFFFFFFFF for index in reversed(range(count))]


def add_nodes(fdt: FdtBuilder, state: VirtioState) -> None:
    """Add every virtio-mmio device node and, if PCI is used, the host bridge node."""
    for transport in state.mmio:
        with fdt.node(f"virtio@{transport.base:x}"):
            fdt.property_string("compatible", "virtio,mmio")
            fdt.property_cells("reg", cells(transport.base) + cells(MMIO_SIZE))
            fdt.property_cells("interrupts", transport.irq.fdt_interrupt())
            fdt.property_empty("dma-coherent")
    if state.pci is not None and state.pci.ecam is not None:
        add_pci_host(fdt, state)


def add_pci_host(fdt: FdtBuilder, state: VirtioState) -> None:
    """The pci-host-ecam-generic node: ECAM, the BAR window, and INTx routing.

    An arch plugin may write this node itself from the ECAM handler's
    ``intx_lines()`` (arm64 does, before asking for other plugins' nodes); the node
    is then already there and is left as it is.
    """
    pci = state.pci
    assert pci is not None and pci.ecam is not None
    window = pci.bar_window
    space = PCI_SPACE_MEM64 if window.end > 1 << 32 else PCI_SPACE_MEM32
    name = f"pci@{pci.ecam.start:x}"
    try:
        fdt.begin_node(name)
    except FdtError:
        if fdt.depth != 1:
            raise
        log.debug("the arch plugin wrote %s already", name)
        return
    try:
        fdt.property_string("compatible", "pci-host-ecam-generic")
        fdt.property_string("device_type", "pci")
        fdt.property_u32("#address-cells", PCI_ADDRESS_CELLS)
        fdt.property_u32("#size-cells", ROOT_CELLS)
        fdt.property_u32("#interrupt-cells", PCI_INTERRUPT_CELLS)
        fdt.property_cells("reg", cells(pci.ecam.start) + cells(ECAM_BUS_SIZE))
        fdt.property_cells("bus-range", [0, 0])
        fdt.property_cells(
            "ranges", [space] + cells(window.start) + cells(window.start) + cells(window.size)
        )
        fdt.property_empty("dma-coherent")
        interrupt_map = _interrupt_map(state)
        if interrupt_map:
            fdt.property_cells("interrupt-map-mask", [PCI_DEVICE_MASK, 0, 0, PCI_PIN_MASK])
            fdt.property_cells("interrupt-map", interrupt_map)
    finally:
        fdt.end_node()


def _interrupt_map(state: VirtioState) -> list[int]:
    pci = state.pci
    assert pci is not None
    entries: list[int] = []
    for slot, transport in pci.root.devices():
        intx = getattr(transport, "intx", None)
        if intx is None:
            continue
        chip: Any = intx.chip
        phandle = getattr(chip, "phandle", None)
        if phandle is None:
            raise ConfigError(
                "virtio-pci INTx: the irqchip facade has no 'phandle' for the PCI "
                "interrupt-map; use --virtio-transport mmio"
            )
        parent_address = [0] * int(getattr(chip, "fdt_address_cells", 0))
        entries += [slot << PCI_DEVICE_SHIFT, 0, 0, INTX_PIN_A, phandle, *parent_address]
        entries += intx.fdt_interrupt()
    return entries
