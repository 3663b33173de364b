"""The virtio plugin's hook implementations (imports of the devices stay lazy)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vmm import hookimpl

if TYPE_CHECKING:
    import pluggy

    from vmm.core.config import Config
    from vmm.core.fdt import FdtBuilder
    from vmm.core.options import OptionGroup
    from vmm.core.vm import Vm


@hookimpl
def vmm_addoption(group: OptionGroup) -> None:
    """Options in kvmtool's spelling: --disk, --rng, --network, --virtio-transport."""
    group.addoption(
        "--disk", "-d", multiple=True, metavar="FILE[,ro]",
        help="Raw disk image as a virtio block device (repeatable); ,ro makes it read-only.",
    )
    group.addoption("--rng", type=bool, help="Add a virtio entropy device (virtio-rng).")
    group.addoption(
        "--network", "-n", multiple=True,
        metavar="mode=tap,tapif=NAME[,guest_mac=MAC]|mode=user|mode=none",
        help="A virtio network card (repeatable): on a TAP interface, or mode=user "
             "through passt (no root, no TAP; the guest reaches the host's loopback at "
             "its gateway address); mode=none: no card (vmm's default anyway).",
    )
    group.addoption(
        "--virtio-transport", choices=("mmio", "pci"), metavar="mmio|pci",
        help="How virtio devices appear to the guest (default: the arch's; x86 has pci only).",
    )


@hookimpl
def vmm_validate_config(config: Config, pluginmanager: pluggy.PluginManager) -> None:
    """Refuse bad --disk/--network specs, missing images and a transport the arch's
    guests can't find (the arch's ``vmm_virtio_transports``)."""
    from .wiring import validate

    validate(config, pluginmanager.hook.vmm_virtio_transports(config=config))


@hookimpl
def vmm_virtio_dev_init(vm: Vm) -> None:
    """Open the backends, create the devices and put them on their transport."""
    from .wiring import build

    build(vm)


@hookimpl
def vmm_virtio_dev_exit(vm: Vm) -> None:
    """Stop every device: I/O threads joined, disks fsynced and closed, taps closed."""
    from .wiring import teardown

    teardown(vm)


@hookimpl
def vmm_device_tree(vm: Vm, fdt: FdtBuilder) -> None:
    """Describe the virtio-mmio devices and the PCI host bridge (ECAM) if any."""
    from .fdt import add_nodes
    from .wiring import KEY

    state: Any = vm.stash.get(KEY)
    if state is not None:
        add_nodes(fdt, state)
