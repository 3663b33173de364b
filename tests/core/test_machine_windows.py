"""Every window of each machine is reserved before any device exists, so any plugin
asking for a range that belongs to something else is refused in one line naming
both, whatever the stage and the order; and the allocation API gives ranges that
overlap nothing, described in the device tree on arm64 and riscv."""

from __future__ import annotations

from itertools import pairwise

import pytest

from vmm import hookimpl
from vmm.core.bus import BusConflictError
from vmm.core.errors import ConfigError
from vmm.core.stages import STAGES

ARCHES = ("x86", "arm64", "riscv")
#: Both virtio transports, so that every kind of built-in device is on the buses.
TRANSPORTS = ("mmio", "pci")


def full_machine(vmm_vm, arch: str, transport: str):
    """A VM of ``arch`` with a virtio device on ``transport`` (x86: PCI only)."""
    options = {"rng": True}
    if arch != "x86":
        options["virtio_transport"] = transport
    return vmm_vm(arch, options=options).build()


def owned_ranges(bus) -> list[tuple[int, int, str]]:
    """(base, size, owner) of every reserved window and every registered device."""
    devices = [(base, size, bus.owner(base)) for base, size, _ in bus]
    windows = [(w.base, w.size, w.owner) for w in bus.windows() if not w.shared]
    return devices + windows


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("arch", ARCHES)
def test_every_built_in_device_lies_in_a_window_reserved_from_the_start(vmm_vm, arch, transport):
    """The inventory the refusal tests below rely on: no device outside the windows."""
    vm = full_machine(vmm_vm, arch, transport)
    buses = [vm.vm.mmio] + ([vm.vm.pio] if arch == "x86" else [])  # only x86 guests do port I/O
    for bus in buses:
        windows = bus.windows()
        for base, size, _device in bus:
            owner = bus.owner(base)
            assert any(w.contains(base, size) and w.owner == owner and not w.shared
                       for w in windows) or any(
                w.contains(base, size) and w.owner == owner for w in windows if w.allocated), (
                f"{bus.name} device {owner} at {base:#x}+{size:#x} is in no window of its own")


class Grabber:
    """A plugin that, in one init stage, asks for every range in ``targets``."""

    def __init__(self, stage: str, bus_name: str, targets: list[tuple[int, int, str]]) -> None:
        self.targets = targets
        self.bus_name = bus_name
        self.refusals: dict[tuple[int, str], str] = {}

        def grab(vm) -> None:
            self.grab(vm)

        setattr(self, f"vmm_{stage}_init", hookimpl(specname=f"vmm_{stage}_init")(grab))

    def grab(self, vm) -> None:
        bus = vm.mmio if self.bus_name == vm.mmio.name else vm.pio
        for base, size, owner in self.targets:
            try:
                bus.register(base, min(size, 8), object(), owner="grabber")  # type: ignore[arg-type]
            except BusConflictError as error:
                self.refusals[(base, owner)] = str(error)
            else:
                bus.unregister(base)


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("arch", ARCHES)
def test_a_plugin_is_refused_every_taken_range_in_every_stage(vmm_vm, arch, stage):
    reference = full_machine(vmm_vm, arch, "mmio")
    buses = [reference.vm.mmio] + ([reference.vm.pio] if arch == "x86" else [])
    for bus in buses:
        targets = sorted(set(owned_ranges(bus)))
        grabber = Grabber(stage, bus.name, targets)
        options = {"rng": True} | ({} if arch == "x86" else {"virtio_transport": "mmio"})
        vmm_vm(arch, options=options, extra_plugins=[("grabber", grabber)]).build(until=stage)
        for base, size, owner in targets:
            message = grabber.refusals.get((base, owner))
            assert message is not None, f"{stage}: {bus.name} {base:#x} of {owner} was given away"
            assert "grabber" in message and "\n" not in message, message
            # the innermost window around the range is named (riscv's "irqchip" holds
            # "imsic"), and before virtio_dev a transport's range is the shared window's
            holders = {other for start, length, other in targets
                       if start <= base and base + min(size, 8) <= start + length}
            holders |= {w.owner for w in bus.windows() if w.shared and w.contains(base, 1)}
            assert any(holder in message for holder in holders), (message, holders)


class Fixed:
    """A plugin registering a device at ``base`` in ``stage``."""

    def __init__(self, name: str, stage: str, base: int, size: int) -> None:
        def grab(vm) -> None:
            vm.mmio.register(base, size, object(), owner=name)  # type: ignore[arg-type]

        setattr(self, f"vmm_{stage}_init", hookimpl(specname=f"vmm_{stage}_init")(grab))


@pytest.mark.parametrize(("first", "second"), [("dev", "late"), ("late", "dev"), ("dev", "dev")])
def test_two_plugins_overlapping_are_refused_naming_both_in_any_order(vmm_vm, first, second):
    one, two = Fixed("plugin-one", first, 0x0180_0000, 0x1000), Fixed("plugin-two", second,
                                                                        0x0180_0800, 0x1000)
    vm = vmm_vm("arm64", extra_plugins=[("one", one), ("two", two)])
    with pytest.raises(ConfigError) as caught:
        vm.build()
    message = str(caught.value)
    assert "plugin-one" in message and "plugin-two" in message and "\n" not in message


class Allocating:
    """A plugin that allocates ``count`` ranges of ``size`` and describes them in the
    device tree."""

    def __init__(self, name: str, count: int, size: int) -> None:
        self.name, self.count, self.size = name, count, size
        self.bases: list[int] = []

    @hookimpl
    def vmm_dev_init(self, vm) -> None:
        for _ in range(self.count):
            base = vm.mmio.allocate(self.size, self.name)
            vm.mmio.register(base, self.size, object(), owner=self.name)  # type: ignore[arg-type]
            self.bases.append(base)

    @hookimpl
    def vmm_device_tree(self, vm, fdt) -> None:
        for base in self.bases:
            with fdt.node(f"{self.name}@{base:x}"):
                fdt.property_string("compatible", f"test,{self.name}")
                fdt.property_reg([(base, self.size)])


@pytest.mark.parametrize("arch", ["arm64", "riscv"])
def test_allocations_never_overlap_and_are_in_the_device_tree(vmm_vm, arch):
    one, two = Allocating("alloc-one", 3, 0x1000), Allocating("alloc-two", 2, 0x3000)
    vm = vmm_vm(arch, options={"rng": True, "virtio_transport": "mmio"},
                extra_plugins=[("one", one), ("two", two)]).build()
    root = vm.device_tree().root
    found = [(node.reg()[0], name) for name in ("alloc-one", "alloc-two")
             for node in root.compatible(f"test,{name}")]
    assert sorted(base for (base, _), _ in found) == sorted(one.bases + two.bases)
    every = sorted(reg for node in root.children if "reg" in node.properties
                   and not node.name.startswith("memory") for reg in node.reg())
    for (start, size), (next_start, _) in pairwise(every):
        assert start + size <= next_start, f"{start:#x}+{size:#x} overlaps {next_start:#x}"
    window = vm.vm.layout.windows[vm.vm.layout.device_window]
    assert all(window.start <= base < window.end for base in one.bases + two.bases)
