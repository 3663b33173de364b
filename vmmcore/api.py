"""What a plugin may use of the VM and its buses: the typed surface, part of the contract.

Every hook that receives ``vm`` receives a :class:`vmm.core.vm.Vm`; a plugin uses
only the members declared here (the rest of ``Vm`` is the core's own and may
change). ``docs/plugins.md`` shows these Protocols, generated from this module like
the hook reference (``python -m vmm.core.docgen --write docs/plugins.md``), and
``tests/test_plugin_api.py`` checks that ``Vm``, ``Bus`` and ``GuestMemory`` have
every member with the signature declared here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from .bus import Device

if TYPE_CHECKING:  # pragma: no cover - annotations only
    from .bus import Window
    from .config import Config
    from .images import LoadedImage
    from .layout import MemoryLayout
    from .stash import Stash
    from .vcpu import Vcpu

__all__ = ["Device", "InterruptController", "PluginBus", "PluginMemory", "PluginVm"]


class PluginBus(Protocol):
    """``vm.mmio`` and ``vm.pio``: where devices answer guest accesses.

    The core reserves every window of the machine on its bus before the first init
    stage that adds devices (the arch plugin's memory layout: its devices' windows,
    in-kernel interrupt controllers, RAM, x86's ports), so a device can be added in
    any stage and is refused, whatever the order, when its range belongs to
    something else. Ask ``allocate`` for a place instead of picking an address
    where you can (arm64, riscv: the guest finds it through the device tree).
    """

    @property
    def name(self) -> str:
        """"MMIO" or "port I/O", for messages."""

    def register(self, base: int, size: int, device: Device, owner: str | None = None) -> None:
        """Put ``device`` (any object with ``io_read``/``io_write``) at ``[base, base + size)``.

        Pass ``owner=`` your plugin's name: a refusal names it. Raises
        ``vmm.core.bus.BusConflictError`` (a ``ConfigError``: one line naming both
        owners, exit status 1) when the range overlaps another device or a window
        that isn't yours.
        """

    def unregister(self, base: int) -> None:
        """Take the device registered at ``base`` off the bus (in your exit stage)."""

    def allocate(self, size: int, owner: str, *, align: int = 0x1000,
                 window: str | None = None) -> int:
        """Reserve the lowest free ``size`` bytes (``align``-ed) of the shared device
        window for ``owner`` and return the base; register your device there.

        Allocations never overlap each other, virtio-mmio transports or any other
        device. Raises ``vmm.core.bus.BusFullError`` when the window is full.
        """

    def find(self, addr: int, size: int = 1) -> tuple[int, Device] | None:
        """The base and device covering ``[addr, addr + size)``, or None."""

    def windows(self) -> list[Window]:
        """The reserved windows and allocations (``base``, ``size``, ``owner``), by base."""


class PluginMemory(Protocol):
    """``vm.memory``: guest RAM, bounds-checked (``GuestMemoryError`` outside RAM)."""

    def read(self, gpa: int, length: int) -> bytes:
        """Copy ``length`` bytes from guest physical address ``gpa``."""

    def write(self, gpa: int, data: bytes | bytearray | memoryview) -> None:
        """Copy ``data`` to guest physical address ``gpa``."""

    def read_u(self, gpa: int, size: int) -> int:
        """Read a little-endian unsigned integer of ``size`` bytes."""

    def write_u(self, gpa: int, size: int, value: int) -> None:
        """Write a little-endian unsigned integer of ``size`` bytes."""

    def view(self, gpa: int, length: int) -> memoryview:
        """A writable zero-copy view of ``length`` bytes at ``gpa`` (for DMA-like work)."""


class InterruptController(Protocol):
    """``vm.irqchip``: the arch plugin's interrupt controller (set in the core stage).

    On arm64 (GIC SPIs) and riscv (PLIC or APLIC sources) a line is the number
    written in the device tree's ``interrupts`` property; on x86 an IOAPIC pin.
    """

    def allocate(self) -> int:
        """A free interrupt line for one device."""

    def set_level(self, line: int, level: int) -> None:
        """Raise (1) or lower (0) a level-triggered line."""

    def irqfd(self, line: int, eventfd: int) -> None:
        """Have KVM raise ``line`` whenever ``eventfd`` is written (KVM_IRQFD)."""


class PluginVm(Protocol):
    """``vm``, as every hook receives it: what a plugin may read and call."""

    @property
    def config(self) -> Config:
        """The run's configuration: ``config.arch`` ("x86", "arm64", "riscv"),
        ``mem_mib``, ``cpus``, ``dry_run``, and the plugins' option values."""

    @property
    def mmio(self) -> PluginBus:
        """The MMIO bus (guest loads and stores no memory slot claims)."""

    @property
    def pio(self) -> PluginBus:
        """The port-I/O bus (x86 ``in``/``out``; 16-bit addresses)."""

    @property
    def memory(self) -> PluginMemory:
        """Guest RAM (mapped in the core stage)."""

    @property
    def layout(self) -> MemoryLayout | None:
        """The guest physical address map: RAM ``banks`` and named ``windows`` (set
        at the start of the core stage)."""

    @property
    def irqchip(self) -> Any:
        """The :class:`InterruptController` (None before the arch plugin creates it)."""

    @property
    def stash(self) -> Stash:
        """Per-VM plugin state: ``vm.stash[KEY]`` with ``KEY = StashKey[T]()``."""

    @property
    def report(self) -> list[str]:
        """Lines to print in the ``--dry-run`` report; append one per device you add."""

    @property
    def vcpus(self) -> list[Vcpu]:
        """The vCPUs (created in the base stage), in id order."""

    @property
    def kernel(self) -> LoadedImage | None:
        """The loaded kernel or firmware (``guest_start``, ``file_size``...), or None."""

    @property
    def dtb(self) -> LoadedImage | None:
        """The device tree once the arch plugin placed it (late stage), or None."""

    def request_stop(self, code: int = 0, error: BaseException | None = None) -> None:
        """End the VM with exit status ``code`` (0 to 255; ValueError otherwise).

        Callable from any thread (a device's ``io_write`` runs on a vCPU thread); the
        first request wins. With ``error``, ``vmm run`` reports it (one line for a
        ``VmmError``) and exits 1.
        """

    def write_console(self, data: bytes) -> None:
        """Write guest console output (what a UART transmits) to the terminal."""
