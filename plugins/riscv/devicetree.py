"""The riscv device tree: cpus, memory, interrupt controller, UART, chosen, devices.

Built in the late stage (after every device exists), written at the top of RAM and
announced with ``vmm_image_loaded``. The same VM gives the same bytes: nothing
random or host-dependent goes in but what KVM reports for the harts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmm.core.errors import ImageError
from vmm.core.images import LoadedImage
from vmm.core.options import write_output_file

from .image import FDT_MAX_SIZE, fdt_address
from .irqchip import riscv_irqchip
from .layout import UART, reg_cells
from .state import riscv_state

if TYPE_CHECKING:
    from vmm.core.fdt import FdtBuilder
    from vmm.core.vm import Vm

UART_CLOCK = 1_843_200
UART_PATH = f"/serial@{UART.start:x}"


def _cpus(fdt: FdtBuilder, vm: Vm, cpu_intc: list[int]) -> None:
    features = riscv_state(vm).features
    assert features is not None
    with fdt.node("cpus"):
        fdt.property_u32("#address-cells", 1)
        fdt.property_u32("#size-cells", 0)
        fdt.property_u32("timebase-frequency", features.timebase_frequency)
        for vcpu, intc in zip(vm.vcpus, cpu_intc, strict=True):
            with fdt.node(f"cpu@{vcpu.id:x}"):
                fdt.property_string("device_type", "cpu")
                fdt.property_u32("reg", vcpu.id)
                fdt.property_string("status", "okay")
                fdt.property_string("compatible", "riscv")
                fdt.property_string("riscv,isa", features.isa_string)
                fdt.property_string("riscv,isa-base", features.isa_base)
                fdt.property_string_list("riscv,isa-extensions", features.isa_extension_list)
                fdt.property_string("mmu-type", features.mmu_type)
                if features.zicbom_block_size:
                    fdt.property_u32("riscv,cbom-block-size", features.zicbom_block_size)
                if features.zicboz_block_size:
                    fdt.property_u32("riscv,cboz-block-size", features.zicboz_block_size)
                with fdt.node("interrupt-controller"):
                    # Its own parent: the root's interrupt-parent (the device
                    # controller) must not become the harts' parent, or Linux
                    # finds no root interrupt controller.
                    fdt.property_u32("interrupt-parent", intc)
                    fdt.property_u32("#address-cells", 0)
                    fdt.property_u32("#interrupt-cells", 1)
                    fdt.property_empty("interrupt-controller")
                    fdt.property_string("compatible", "riscv,cpu-intc")
                    fdt.property_phandle(intc)


def _bootargs(vm: Vm) -> str:
    params = vm.config.params
    if "console=" in params:
        return params
    console = "hvc0" if vm.config.console == "virtio" else "ttyS0"
    return f"console={console} {params}".strip()


def _chosen(fdt: FdtBuilder, vm: Vm) -> None:
    with fdt.node("chosen"):
        fdt.property_string("bootargs", _bootargs(vm))
        fdt.property_string("stdout-path", UART_PATH)
        if vm.initrd is not None:
            fdt.property_u64("linux,initrd-start", vm.initrd.guest_start)
            fdt.property_u64("linux,initrd-end", vm.initrd.guest_end)


def _uart(fdt: FdtBuilder, vm: Vm) -> None:
    state = riscv_state(vm)
    with fdt.node(UART_PATH[1:]):
        fdt.property_string("compatible", "ns16550a")
        fdt.property_cells("reg", reg_cells(UART.start, UART.size))
        fdt.property_u32("clock-frequency", UART_CLOCK)
        fdt.property_cells("interrupts", riscv_irqchip(vm).fdt_interrupt(state.uart_line))


def build_device_tree(vm: Vm) -> bytes:
    """The whole DTB of ``vm`` (call after every device is set up)."""
    from vmm.core.fdt import FdtBuilder

    assert vm.layout is not None
    fdt = FdtBuilder()
    cpu_intc = [fdt.allocate_phandle() for _ in vm.vcpus]
    chip = riscv_irqchip(vm)
    chip.phandle = fdt.allocate_phandle()
    fdt.begin_node("")
    fdt.property_u32("#address-cells", 2)
    fdt.property_u32("#size-cells", 2)
    fdt.property_string("compatible", "linux,dummy-virt")
    fdt.property_string("model", "vmm riscv virtual machine")
    fdt.property_u32("interrupt-parent", chip.phandle)
    with fdt.node("aliases"):
        fdt.property_string("serial0", UART_PATH)
    _chosen(fdt, vm)
    for bank in vm.layout.banks:
        with fdt.node(f"memory@{bank.start:x}"):
            fdt.property_string("device_type", "memory")
            fdt.property_cells("reg", reg_cells(bank.start, bank.size))
    _cpus(fdt, vm, cpu_intc)
    chip.fdt_nodes(fdt, cpu_intc)
    _uart(fdt, vm)
    vm.hook.vmm_device_tree(vm=vm, fdt=fdt)
    fdt.end_node()
    return fdt.finish()


def place_device_tree(vm: Vm) -> None:
    """Build the device tree, place it at the top of RAM, write --dtb-out."""
    blob = build_device_tree(vm)
    if len(blob) > FDT_MAX_SIZE:
        raise ImageError(
            f"the device tree is {len(blob)} bytes, more than the {FDT_MAX_SIZE} bytes "
            "reserved for it; use fewer devices"
        )
    from .options import riscv_options

    dtb_out = riscv_options(vm.config).dtb_out
    write_output_file("--dtb-out", dtb_out, blob)
    address = fdt_address(vm)
    vm.memory.write(address, blob)
    vm.dtb = LoadedImage("dtb", address, len(blob), FDT_MAX_SIZE, path=dtb_out or "",
                         format="dtb")
    vm.hook.vmm_image_loaded(vm=vm, image=vm.dtb)
