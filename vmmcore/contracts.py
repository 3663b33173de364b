"""The typed contracts between the core, the arch plugins and the device plugins.

The core holds no architecture: an arch plugin builds the interrupt controller and
sets it on ``vm.irqchip``, devices (virtio's transports, the serial port) ask it for
lines. What they may ask is :class:`Irqchip`; what a hook learns about a virtio
device (``vmm_virtio_host_features``) is :class:`VirtioDevice`. Both are
``typing.Protocol`` classes: a plugin's class satisfies one by having the members,
without importing or subclassing it (a test checks each arch's irqchip classes
with ``isinstance``, so the contract is also checked at run time where it matters).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Irqchip(Protocol):
    """The interrupt controller facade an arch plugin sets on ``vm.irqchip``.

    Lines are the arch's numbers (an x86 IOAPIC pin, an arm64 SPI, a RISC-V
    APLIC/PLIC source); :meth:`allocate` hands out free ones.
    """

    @property
    def supports_msi(self) -> bool:
        """Whether the in-kernel controller takes MSIs (KVM_SIGNAL_MSI and MSI routes):
        x86's local APICs do, a GIC with an ITS does; a GIC without one or a PLIC
        doesn't, and virtio-pci then falls back to INTx lines. A class attribute will do."""
        ...

    @property
    def msi_devid(self) -> bool:
        """Whether each MSI must carry its sender's requester ID (KVM_MSI_VALID_DEVID),
        as KVM requires once an arm64 GIC has an ITS."""
        ...

    def allocate(self) -> int:
        """A free interrupt line for one device (a ConfigError when none is left)."""
        ...

    def set_level(self, line: int, level: int) -> None:
        """Drive ``line`` to ``level`` (0 or 1)."""
        ...

    def irqfd(self, line: int, eventfd: int) -> None:
        """Let KVM pulse ``line`` whenever ``eventfd`` is signalled (KVM_IRQFD); raise
        VmmError, OSError or NotImplementedError where the controller can't, and the
        device drives the line as a level instead."""
        ...


@runtime_checkable
class DeviceTreeIrqchip(Irqchip, Protocol):
    """An :class:`Irqchip` of an arch whose guests find devices in a device tree."""

    def fdt_interrupt(self, line: int, edge: bool = False) -> list[int]:
        """The ``interrupts`` property cells of ``line``; ``edge`` is true for a line
        pulsed through an irqfd (a controller whose cells carry no trigger type
        ignores it)."""
        ...


class VirtioDevice(Protocol):
    """What hooks see of one virtio device (virtio 1.2, section 2 and 5)."""

    #: The virtio device ID (1 network, 2 block, 3 console, 4 entropy...).
    device_id: int
    #: A short name for messages (``blk``, ``net``...).
    name: str

    @property
    def features(self) -> int:
        """The feature bits the device itself offers (without the hooks' bits)."""
        ...
