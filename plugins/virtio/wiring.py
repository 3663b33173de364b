"""Building the VM's virtio devices from the configuration and placing them.

The arch plugin says which transports its guests can find, its default first
(``vmm_virtio_transports``): virtio-mmio in the "virtio_mmio" window, or PCI
(configuration mechanism #1 ports, and an ECAM host bridge where the layout has the
"pci_ecam" window; BARs in the "pci_mmio" or "pci" window); ``--virtio-transport``
picks another of them. Everything built is kept in
:class:`VirtioState` in the VM's stash and torn down by :func:`teardown`, also when
building fails half way.

Device, transport and PCI modules are imported only when a device is configured, so
a run without virtio devices (or ``--disk``-free validation) doesn't load them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vmm.core.errors import ConfigError
from vmm.core.stash import StashKey

if TYPE_CHECKING:
    from vmm.core.config import Config
    from vmm.core.devices.console_input import RawTerminal
    from vmm.core.layout import Bank
    from vmm.core.options import OptionValues
    from vmm.core.vm import Vm

    from .device import VirtioDevice
    from .mmio import MmioTransport
    from .pci.host import PciRoot
    from .transport import Transport

log = logging.getLogger(__name__)

#: The plugin's name (its entry point), under which its options are bound.
PLUGIN = "virtio"
TRANSPORTS = ("mmio", "pci")
MMIO_WINDOW = "virtio_mmio"
ECAM_WINDOW = "pci_ecam"
PCI_BAR_WINDOWS = ("pci_mmio", "pci")
#: The port window of PCI configuration mechanism #1 (x86's layout reserves it).
CONFIG_PORTS = "pci_config"


@dataclass
class PciState:
    """The PCI bus virtio built: root, config access, BAR window."""

    root: PciRoot
    bar_window: Bank
    ecam: Bank | None
    registered_pio: list[int] = field(default_factory=list)
    registered_mmio: list[int] = field(default_factory=list)


@dataclass
class VirtioState:
    """Every virtio device of a VM with its transport."""

    devices: list[VirtioDevice] = field(default_factory=list)
    transports: list[Transport] = field(default_factory=list)
    mmio: list[MmioTransport] = field(default_factory=list)
    pci: PciState | None = None
    terminal: RawTerminal | None = None


KEY = StashKey[VirtioState]()


def virtio_options(config: Config) -> OptionValues:
    """The virtio options of ``config`` (--disk, --rng, --network...), read-only."""
    return config.options_of(PLUGIN)


def choose_transport(config: Config, offered: Sequence[str] | None) -> str:
    """``--virtio-transport``, else the first of the transports the arch ``offered``
    (its ``vmm_virtio_transports`` answer; None: both, mmio first)."""
    chosen = virtio_options(config).virtio_transport
    if chosen is not None and chosen not in TRANSPORTS:
        raise ConfigError(f"--virtio-transport {chosen!r}: choose mmio or pci")
    usable = tuple(offered) if offered else TRANSPORTS
    if chosen is None:
        return usable[0]
    if chosen not in usable:
        raise ConfigError(
            f"--virtio-transport {chosen}: {config.arch} guests find virtio devices on "
            f"{' or '.join(usable)} only; drop the option"
        )
    return chosen


#: kvmtool's ``--network`` value for "no network card" (vmm adds none unless asked).
NO_NETWORK = "mode=none"


def network_cards(config: Config) -> list[str]:
    """The ``--network`` values that ask for a card: all but ``mode=none``, which
    can't be combined with a card."""
    networks = list(virtio_options(config).network or [])
    cards = [text for text in networks if text != NO_NETWORK]
    if cards and len(cards) != len(networks):
        raise ConfigError(f"--network {NO_NETWORK} means no network card; don't combine it "
                          f"with --network {cards[0]}")
    return cards


def validate(config: Config, offered: Sequence[str] | None) -> None:
    """Parse every virtio option now, so that mistakes stop vmm before anything runs.

    :param offered: the arch's ``vmm_virtio_transports`` answer.
    """
    choose_transport(config, offered)
    options = virtio_options(config)
    disks, networks = options.disk or [], network_cards(config)
    if disks:
        from .blk import file_identity, parse_disk
    if networks:
        from .net import parse_network
    seen: dict[tuple[int, int], str] = {}
    for text in disks:
        spec = parse_disk(text)
        identity = file_identity(spec.path)  # the same file by any path or link
        if identity in seen:
            first = seen[identity]
            also = "" if first == spec.path else f" (also as {first!r})"
            raise ConfigError(f"disk image {spec.path!r} is given twice{also} (check --disk)")
        seen[identity] = spec.path
    for text in networks:
        parse_network(text)


def make_devices(vm: Vm, state: VirtioState) -> list[VirtioDevice]:
    """Open each device's backend (image files, TAPs) as the options ask (each
    device's module is imported only when that device is asked for).

    A dry run touches nothing on the host: disks are opened read-only and their
    locks only checked, and no TAP interface is opened or created.
    """
    config = vm.config
    options = virtio_options(config)
    devices: list[VirtioDevice] = []
    try:
        if config.console == "virtio":
            from vmm.core.devices.console_input import RawTerminal, console_input_fd

            from .console import ConsoleDevice

            input_fd = console_input_fd()
            devices.append(ConsoleDevice(vm.write_console, input_fd))
            if input_fd is not None:
                state.terminal = RawTerminal(input_fd)
        for text in options.disk or []:
            from .blk import BlockDevice, parse_disk

            spec = parse_disk(text)
            devices.append(BlockDevice(spec, dry_run=config.dry_run))
            if config.dry_run:
                vm.report.append(f"virtio-blk: {spec.path} opened read-only, its lock "
                                 "only checked (dry run)")
        if options.rng:
            from .rng import RngDevice

            devices.append(RngDevice())
        for text in network_cards(config):
            from .net import NetDevice, parse_network

            net = parse_network(text)
            if config.dry_run:
                devices.append(NetDevice(None, net.mac, net.tapif))
                backend = ("passt not started" if net.mode == "user" else
                           f"TAP interface {net.tapif or '(new)'} not opened")
                vm.report.append(f"virtio-net: {backend} (dry run)")
                continue
            if net.mode == "user":
                from .passt import start_passt

                devices.append(NetDevice(start_passt(net.guest_ip, net.host_ip), net.mac,
                                         "passt"))
                continue
            from .tap import open_tap

            fd, name = open_tap(net.tapif)
            devices.append(NetDevice(fd, net.mac, name))
    except BaseException:
        for device in devices:
            device.close()
        raise
    return devices


def build(vm: Vm) -> VirtioState:
    """Create, place and wire every virtio device; undo everything on failure."""
    state = VirtioState()
    vm.stash[KEY] = state
    try:
        devices = make_devices(vm, state)
        state.devices = devices
        if not devices:
            return state
        offered = vm.hook.vmm_virtio_transports(config=vm.config)
        if choose_transport(vm.config, offered) == "mmio":
            _place_mmio(vm, state, devices)
        else:
            _place_pci(vm, state, devices)
        if state.terminal is not None:
            state.terminal.enter()
        _report(vm, state)
    except BaseException:
        teardown(vm)
        raise
    return state


def _window(vm: Vm, *names: str) -> Bank:
    assert vm.layout is not None
    for name in names:
        if name in vm.layout.windows:
            return vm.layout.windows[name]
    raise ConfigError(
        f"the {vm.config.arch} plugin's memory layout has no {' or '.join(names)!r} window "
        "for virtio devices; use another --virtio-transport or no virtio device"
    )


def _place_mmio(vm: Vm, state: VirtioState, devices: list[VirtioDevice]) -> None:
    from vmm.core.bus import BusFullError

    from .interrupts import LineInterrupt, require_irqchip
    from .mmio import MMIO_SIZE, OWNER, MmioTransport

    _window(vm, MMIO_WINDOW)
    chip = require_irqchip(vm, "virtio-mmio")
    for device in devices:
        try:
            base = vm.mmio.allocate(MMIO_SIZE, OWNER, align=MMIO_SIZE, window=MMIO_WINDOW)
        except BusFullError:
            raise ConfigError("too many virtio devices for the virtio_mmio window") from None
        transport = MmioTransport(vm, device, base, LineInterrupt(chip, chip.allocate()))
        state.transports.append(transport)
        state.mmio.append(transport)
        transport.attach()


def msi_supported(vm: Vm) -> bool:
    """Whether the interrupt controller takes MSIs through KVM_SIGNAL_MSI (its
    :attr:`~vmm.core.contracts.Irqchip.supports_msi`)."""
    return vm.irqchip is not None and vm.irqchip.supports_msi


def _place_pci(vm: Vm, state: VirtioState, devices: list[VirtioDevice]) -> None:
    from vmm.core.layout import WindowAllocator

    from .interrupts import LineInterrupt, require_irqchip
    from .pci.config import COMMAND_MEMORY
    from .pci.host import PciRoot, requester_id
    from .pci.virtio_pci import BAR_SIZE, VirtioPciTransport

    assert vm.layout is not None
    ecam = vm.layout.windows.get(ECAM_WINDOW)
    pci = PciState(PciRoot(), _window(vm, *PCI_BAR_WINDOWS), ecam)
    state.pci = pci
    _register_config_access(vm, pci)
    allocator = WindowAllocator(pci.bar_window)
    msi = msi_supported(vm)
    chip = None if msi else require_irqchip(vm, "virtio-pci without MSI")
    is64 = pci.bar_window.end > 1 << 32
    for device in devices:
        # INTx only without MSI: x86 has few free IOAPIC pins and Linux prefers MSI-X.
        intx = None if chip is None else LineInterrupt(chip, chip.allocate(), use_irqfd=False)
        transport = VirtioPciTransport(vm, device, is64=is64, msi=msi, intx=intx)
        state.transports.append(transport)
        slot = pci.root.add(transport)
        if transport.msix is not None and vm.irqchip is not None and vm.irqchip.msi_devid:
            transport.msix.devid = requester_id(slot)
        try:
            base = allocator.allocate(BAR_SIZE, BAR_SIZE)
        except ValueError:
            raise ConfigError("too many virtio devices for the PCI BAR window") from None
        transport.config.set_bar_address(transport.bar, base)
        transport.config.header.command |= COMMAND_MEMORY
        transport.update_mapping()


def _register_config_access(vm: Vm, pci: PciState) -> None:
    """ECAM in the "pci_ecam" window if there is one, and always mechanism #1 ports
    (only x86 guests do port I/O; elsewhere they are never reached)."""
    from .pci.host import (
        CONFIG_ADDRESS_PORT,
        CONFIG_DATA_PORT,
        ECAM_BUS_SIZE,
        PORT_SIZE,
        ConfigAddressPort,
        ConfigDataPort,
        Ecam,
    )

    if pci.ecam is not None:
        if pci.ecam.size < ECAM_BUS_SIZE:
            raise ConfigError("the pci_ecam window is smaller than one bus (1 MiB)")
        vm.mmio.register(pci.ecam.start, ECAM_BUS_SIZE, Ecam(pci.root), owner=ECAM_WINDOW)
        pci.registered_mmio.append(pci.ecam.start)
    latch = ConfigAddressPort()
    vm.pio.register(CONFIG_ADDRESS_PORT, PORT_SIZE, latch, owner=CONFIG_PORTS)
    pci.registered_pio.append(CONFIG_ADDRESS_PORT)
    vm.pio.register(CONFIG_DATA_PORT, PORT_SIZE, ConfigDataPort(pci.root, latch),
                    owner=CONFIG_PORTS)
    pci.registered_pio.append(CONFIG_DATA_PORT)


def _report(vm: Vm, state: VirtioState) -> None:
    """Describe the devices for the ``--dry-run`` report."""
    from .pci.virtio_pci import VirtioPciTransport

    for transport in state.mmio:
        vm.report.append(
            f"virtio-{transport.device.name}: virtio-mmio at {transport.base:#x}, "
            f"line {transport.irq.line}"
        )
    if state.pci is not None:
        for slot, function in state.pci.root.devices():
            assert isinstance(function, VirtioPciTransport)
            interrupts = "MSI-X" if function.msix is not None else "INTx"
            vm.report.append(
                f"virtio-{function.device.name}: virtio-pci 00:{slot:02x}.0, BAR0 at "
                f"{function.config.bar_address(function.bar):#x}, {interrupts}"
            )


def teardown(vm: Vm) -> None:
    """Stop every device (threads joined, disks fsynced, taps closed), free the buses.

    Everything is closed even when something fails; the first failure is raised
    (a one-line error), any later one is logged.
    """
    state = vm.stash.get(KEY)
    if state is None:
        return
    del vm.stash[KEY]
    failures: list[BaseException] = []

    def attempt(name: str, close) -> None:
        try:
            close()
        except Exception as error:  # keep closing the others
            if failures:
                log.warning("virtio-%s: %s", name, error)
            failures.append(error)

    if state.transports:
        from .mmio import MmioTransport
    for transport in state.transports:
        attempt(transport.device.name, transport.close)
        if isinstance(transport, MmioTransport):
            transport.detach()
    for device in state.devices:  # those that never got a transport (closing is idempotent)
        attempt(device.name, device.close)
    if state.pci is not None:
        for port in state.pci.registered_pio:
            vm.pio.unregister(port)
        for address in state.pci.registered_mmio:
            vm.mmio.unregister(address)
    if state.terminal is not None:
        state.terminal.restore()
    if failures:
        raise failures[0]
