"""The PCI root bus: a host bridge at 00:00.0 and the functions behind it.

Configuration space is reached either through the PC's configuration mechanism #1
(address latch at port 0xCF8, data at 0xCFC-0xCFF) or through an ECAM window (one
4 KiB page per function, 1 MiB per bus). Only bus 0 exists; absent functions read as
all ones.
"""

from __future__ import annotations

from typing import Protocol

from .config import PciConfig

#: Configuration mechanism #1 ports (PCI 3.0, 3.2.2.3.2).
CONFIG_ADDRESS_PORT = 0xCF8
CONFIG_DATA_PORT = 0xCFC
PORT_SIZE = 4
CONFIG_ADDRESS_ENABLE = 1 << 31
# Field positions of a configuration address (mechanism #1 and ECAM).
BUS_SHIFT_CF8 = 16
DEVFN_SHIFT_CF8 = 8
REGISTER_MASK_CF8 = 0xFC
ECAM_BUS_SHIFT = 20
ECAM_DEVFN_SHIFT = 12
ECAM_REGISTER_MASK = 0xFFF
#: ECAM bytes per bus (32 devices x 8 functions x 4 KiB).
ECAM_BUS_SIZE = 1 << ECAM_BUS_SHIFT
DEVFN_SLOT_SHIFT = 3
SLOTS = 32

#: The host bridge's identity: Red Hat's ID for a generic PCIe host bridge.
HOST_BRIDGE_VENDOR = 0x1B36
HOST_BRIDGE_DEVICE = 0x0008
CLASS_HOST_BRIDGE = (0x06, 0x00, 0x00)


def requester_id(slot: int, bus: int = 0, function: int = 0) -> int:
    """A function's requester ID (bus << 8 | device << 3 | function): the DeviceID
    its MSIs carry to an interrupt controller that tells devices apart."""
    return bus << 8 | slot << DEVFN_SLOT_SHIFT | function


class PciFunction(Protocol):
    """A function on the bus: its configuration space answers accesses."""

    config: PciConfig

    def config_read(self, offset: int, size: int) -> int: ...

    def config_write(self, offset: int, size: int, value: int) -> None: ...


class HostBridge:
    """Function 00:00.0: identifies the bus to the guest, no BARs."""

    def __init__(self) -> None:
        self.config = PciConfig(HOST_BRIDGE_VENDOR, HOST_BRIDGE_DEVICE, CLASS_HOST_BRIDGE)

    def config_read(self, offset: int, size: int) -> int:
        return self.config.read(offset, size)

    def config_write(self, offset: int, size: int, value: int) -> None:
        self.config.write(offset, size, value)


class PciRoot:
    """Bus 0: slot number -> function (function 0 of each slot only)."""

    def __init__(self) -> None:
        self.slots: dict[int, PciFunction] = {0: HostBridge()}

    def add(self, function: PciFunction) -> int:
        """Plug ``function`` into the first free slot; return the slot."""
        for slot in range(SLOTS):
            if slot not in self.slots:
                self.slots[slot] = function
                return slot
        raise ValueError("the PCI bus has no free slot left")

    def devices(self) -> list[tuple[int, PciFunction]]:
        """The plugged functions other than the host bridge, by slot."""
        return sorted((slot, fn) for slot, fn in self.slots.items() if slot != 0)

    def _function(self, bus: int, devfn: int) -> PciFunction | None:
        if bus != 0 or devfn & ((1 << DEVFN_SLOT_SHIFT) - 1):
            return None
        return self.slots.get(devfn >> DEVFN_SLOT_SHIFT)

    def read(self, bus: int, devfn: int, offset: int, size: int) -> int:
        function = self._function(bus, devfn)
        if function is None or offset % size:
            return (1 << (8 * size)) - 1
        return function.config_read(offset, size)

    def write(self, bus: int, devfn: int, offset: int, size: int, value: int) -> None:
        function = self._function(bus, devfn)
        if function is not None and not offset % size:
            function.config_write(offset, size, value)


class ConfigAddressPort:
    """Port 0xCF8: the address latch of configuration mechanism #1 (dword only)."""

    def __init__(self) -> None:
        self.address = 0

    def io_read(self, offset: int, size: int) -> int:
        if offset == 0 and size == PORT_SIZE:
            return self.address
        return (1 << (8 * size)) - 1

    def io_write(self, offset: int, size: int, value: int) -> None:
        if offset == 0 and size == PORT_SIZE:  # byte writes (a probe) are ignored
            self.address = value & 0xFFFFFFFF


class ConfigDataPort:
    """Ports 0xCFC-0xCFF: the data window of configuration mechanism #1."""

    def __init__(self, root: PciRoot, latch: ConfigAddressPort) -> None:
        self.root = root
        self.latch = latch

    def _target(self, offset: int) -> tuple[int, int, int] | None:
        address = self.latch.address
        if not address & CONFIG_ADDRESS_ENABLE:
            return None
        bus = (address >> BUS_SHIFT_CF8) & 0xFF
        devfn = (address >> DEVFN_SHIFT_CF8) & 0xFF
        return bus, devfn, (address & REGISTER_MASK_CF8) + offset

    def io_read(self, offset: int, size: int) -> int:
        target = self._target(offset)
        if target is None:
            return (1 << (8 * size)) - 1
        return self.root.read(*target, size)

    def io_write(self, offset: int, size: int, value: int) -> None:
        target = self._target(offset)
        if target is not None:
            self.root.write(*target, size, value)


class Ecam:
    """An ECAM window: bus, device/function and register from the offset."""

    def __init__(self, root: PciRoot, buses: int = 1) -> None:
        self.root = root
        #: How much of the window is decoded (read by arch device-tree writers).
        self.ecam_size = buses * ECAM_BUS_SIZE

    def intx_lines(self) -> dict[int, int]:
        """``{slot: line}`` of the functions that use INTx pin A (for interrupt-map)."""
        lines = {}
        for slot, function in self.root.devices():
            intx = getattr(function, "intx", None)
            if intx is not None:
                lines[slot] = intx.line
        return lines

    def _decode(self, offset: int) -> tuple[int, int, int]:
        return (
            offset >> ECAM_BUS_SHIFT,
            (offset >> ECAM_DEVFN_SHIFT) & 0xFF,
            offset & ECAM_REGISTER_MASK,
        )

    def io_read(self, offset: int, size: int) -> int:
        return self.root.read(*self._decode(offset), size)

    def io_write(self, offset: int, size: int, value: int) -> None:
        self.root.write(*self._decode(offset), size, value)
