"""The arm64 device tree: other plugins' nodes, the PCI host bridge contract, the
order in which plugins' hooks run."""

from __future__ import annotations

from vmm import hookimpl

from .conftest import decompile


class VirtioLike:
    """A plugin that adds a virtio-mmio node and a PCI host in the ECAM window."""

    class Ecam:
        ecam_size = 1 << 20

        def __init__(self, line: int) -> None:
            self.line = line

        def io_read(self, offset: int, size: int) -> int:
            return 0xFFFFFFFF

        def io_write(self, offset: int, size: int, value: int) -> None:
            pass

        def intx_lines(self) -> dict[int, int]:
            return {1: self.line}

    @staticmethod
    @hookimpl
    def vmm_virtio_dev_init(vm):
        window = vm.layout.windows["pci_ecam"]
        VirtioLike.mmio_line = vm.irqchip.allocate()
        vm.mmio.register(window.start, 1 << 20, VirtioLike.Ecam(vm.irqchip.allocate()),
                         owner="pci_ecam")

    @staticmethod
    @hookimpl
    def vmm_device_tree(vm, fdt):
        base = vm.layout.windows["virtio_mmio"].start
        with fdt.node(f"virtio_mmio@{base:x}"):
            fdt.property_string("compatible", "virtio,mmio")
            fdt.property_cells("reg", [0, base, 0, 0x200])
            fdt.property_cells("interrupts", vm.irqchip.fdt_interrupt(VirtioLike.mmio_line))


def test_other_plugins_add_nodes_and_a_pci_host(arm64_vm, tmp_path):
    vm = arm64_vm(extra_plugins=[("virtio-like", VirtioLike)]).build()
    from vmm.plugins.arm64.state import arm64_state

    dts = decompile(arm64_state(vm.vm).dtb, tmp_path)
    assert "virtio_mmio@3000000 {" in dts and "interrupts = <0x0 0x1 0x4>;" in dts
    assert "pci@40000000 {" in dts
    assert 'compatible = "pci-host-ecam-generic";' in dts
    assert "bus-range = <0x0 0x0>;" in dts
    assert "ranges = <0x2000000 0x0 0x50000000 0x0 0x50000000 0x0 0x30000000>;" in dts
    assert "interrupt-map = <0x800 0x0 0x0 0x1 0x1 0x0 0x0 0x0 0x2 0x4>;" in dts


def test_no_pci_node_without_a_pci_host(arm64_vm, tmp_path):
    from vmm.plugins.arm64.state import arm64_state

    vm = arm64_vm().build()
    assert "pci@" not in decompile(arm64_state(vm.vm).dtb, tmp_path)


def test_hook_order_for_arm64(arm64_vm):
    vm = arm64_vm(cpus=2).build()
    core_init = vm.hooks_called("vmm_core_init")
    assert core_init[0] == "core" and core_init[-1] == "core"
    assert "arm64" in core_init[1:-1]
    assert vm.hooks_called("vmm_vm_type")[-1] == "arm64"
    assert vm.hooks_called("vmm_vcpu_init").count("arm64") == 2
    assert vm.hooks_called("vmm_device_tree") is not None
    names = [name for name, plugin in vm.hook_calls if plugin == "arm64"]
    stages = ["vmm_core_init", "vmm_base_init", "vmm_dev_init", "vmm_late_init"]
    assert [names.index(stage) for stage in stages] == sorted(names.index(stage) for stage in stages)
    assert names.index("vmm_load_kernel") < names.index("vmm_vcpu_init") < names.index("vmm_late_init")
    assert names.index("vmm_late_init") < names.index("vmm_vcpu_boot_registers") < names.index(
        "vmm_vcpu_finalize")
