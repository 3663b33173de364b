"""The typed contracts at the seams between the core and the plugins (issue 14,
item 4): each arch's interrupt controller is an Irqchip, the arch names the virtio
transports, and neither virtio nor the core asks which arch it runs on."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import vmm
from vmm.core.config import Config
from vmm.core.contracts import DeviceTreeIrqchip, Irqchip
from vmm.core.errors import ConfigError, PluginError
from vmm.core.options import collect_option_groups
from vmm.core.plugins import build_manager
from vmm.plugins.arm64.irqchip import Vgic, arm64_vgic
from vmm.plugins.riscv.aia import AiaIrqchip
from vmm.plugins.riscv.irqchip import riscv_irqchip
from vmm.plugins.riscv.plic_chip import PlicIrqchip
from vmm.plugins.virtio.wiring import choose_transport
from vmm.plugins.x86.irqchip import IrqChip, x86_irqchip

PACKAGE = Path(vmm.__file__).resolve().parent


@pytest.mark.parametrize("chip_class", [IrqChip, Vgic, AiaIrqchip, PlicIrqchip])
def test_every_arch_irqchip_satisfies_the_protocol(chip_class: type) -> None:
    chip = chip_class.__new__(chip_class)  # the members are the class's, no KVM needed
    assert isinstance(chip, Irqchip)
    assert isinstance(chip.supports_msi, bool)  # a new chip has no ITS yet
    assert isinstance(chip.msi_devid, bool)


@pytest.mark.parametrize("chip_class", [Vgic, AiaIrqchip, PlicIrqchip])
def test_device_tree_arches_describe_their_lines(chip_class: type) -> None:
    assert isinstance(chip_class.__new__(chip_class), DeviceTreeIrqchip)


def _transport(arch: str, chosen: str | None = None) -> str:
    given = {"virtio": {"virtio_transport": chosen}} if chosen else {}
    config = Config(arch=arch, given_options=given)
    pm = build_manager(arch)
    config.bind_options(collect_option_groups(pm))
    pm.hook.vmm_validate_config(config=config, pluginmanager=pm)
    return choose_transport(config, pm.hook.vmm_virtio_transports(config=config))


@pytest.mark.parametrize(("arch", "default"), [("x86", "pci"), ("arm64", "mmio"),
                                               ("riscv", "mmio")])
def test_the_arch_plugin_names_the_default_virtio_transport(arch: str, default: str) -> None:
    assert _transport(arch) == default
    if arch != "x86":
        assert _transport(arch, "pci") == "pci"


def test_a_transport_the_arch_does_not_offer_is_refused_early() -> None:
    with pytest.raises(ConfigError, match="--virtio-transport mmio: x86 guests find "
                                          "virtio devices on pci only; drop the option"):
        _transport("x86", "mmio")


def test_an_arch_without_an_answer_gets_both_transports_mmio_first() -> None:
    config = Config(arch="newarch", given_options={})
    config.bind_options(collect_option_groups(build_manager("x86")))
    assert choose_transport(config, None) == "mmio"


def test_virtio_and_the_core_do_not_branch_on_the_arch() -> None:
    """(``core/testing`` holds per-arch test guests and is left out.)"""
    asks = re.compile(r"config\.arch\s*[!=]=|[!=]=\s*[\"'](x86|arm64|riscv)[\"']")
    found = [f"{path.relative_to(PACKAGE)}:{number}"
             for folder in ("core", "plugins/virtio")
             for path in sorted((PACKAGE / folder).rglob("*.py"))
             if "testing" not in path.relative_to(PACKAGE).parts
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if asks.search(line)]
    assert found == []


@pytest.mark.parametrize("chip_class", [Vgic, AiaIrqchip, PlicIrqchip])
def test_device_tree_irqchips_take_the_edge_flag(chip_class: type) -> None:
    # virtio describes an irqfd line with edge=True: every device-tree chip accepts it.
    assert "edge" in inspect.signature(chip_class.fdt_interrupt).parameters


@pytest.mark.parametrize(("accessor", "arch"), [(arm64_vgic, "arm64 vGIC"),
                                                (riscv_irqchip, "RISC-V interrupt controller"),
                                                (x86_irqchip, "x86 PIC/IOAPIC")])
def test_an_arch_accessor_refuses_another_chip(accessor: Callable[[Any], object],
                                               arch: str) -> None:
    vm = SimpleNamespace(irqchip=None)
    with pytest.raises(PluginError, match=f"vm.irqchip is NoneType, not .*{arch}"):
        accessor(vm)
