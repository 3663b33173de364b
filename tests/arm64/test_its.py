"""--irqchip gicv3-its against the model: the ITS's KVM calls, its device tree nodes,
and the modelled kernel's rules (placement, init, MSIs tagged with a DeviceID)."""

from __future__ import annotations

import errno

import pytest

from vmm.core.errors import ConfigError, KvmError
from vmm.plugins.arm64 import layout as mm
from vmm.plugins.arm64 import uapi as u
from vmm.plugins.arm64.its import ITS_FRAME_SIZE, its_base
from vmm.plugins.arm64.model_host import ModelHost
from vmm.plugins.arm64.model_its import GITS_TRANSLATER

from .conftest import decompile, run_vmm

ITS = {"irqchip": "gicv3-its"}


def calls(vm, name: str) -> list[str]:
    return [line for line in vm.ioctl_log() if f": {name}(" in line]


def test_its_is_created_placed_and_initialised_after_the_vgic(arm64_vm):
    vm = arm64_vm(options=ITS, cpus=2).build()
    log = vm.ioctl_log()
    assert calls(vm, "KVM_CREATE_DEVICE") == [
        f"vm: KVM_CREATE_DEVICE(type={u.KVM_DEV_TYPE_ARM_VGIC_V3})",
        f"vm: KVM_CREATE_DEVICE(type={u.KVM_DEV_TYPE_ARM_VGIC_ITS})",
    ]
    its = vm.vm.irqchip.its
    redistributors = vm.vm.irqchip.frames.second[0]
    assert its.base == its_base(redistributors) == redistributors - ITS_FRAME_SIZE
    assert its.base % 0x10000 == 0 and its.base >= vm.vm.layout.windows["gic"].start
    placed = log.index(f"device: KVM_SET_DEVICE_ATTR(group=0 attr={u.KVM_VGIC_ITS_ADDR_TYPE:#x})")
    inits = [i for i, line in enumerate(log) if line == "device: KVM_SET_DEVICE_ATTR(group=4 attr=0x0)"]
    assert len(inits) == 2 and placed < inits[0]  # vGIC init, then the ITS's
    first_run = next((i for i, line in enumerate(log) if "KVM_RUN" in line), len(log))
    assert inits[1] < first_run
    modelled = vm.backend.system.vms[-1].arch["its"]
    assert [(m.base, m.initialized) for m in modelled] == [(its.base, True)]
    assert vm.vm.irqchip.supports_msi and vm.vm.irqchip.msi_devid


def test_without_its_the_gic_takes_no_msis(arm64_vm):
    vgic = arm64_vm().build().vm.irqchip
    assert vgic.its is None and not vgic.supports_msi and not vgic.msi_devid


def test_a_host_without_its_is_a_one_line_error(arm64_vm):
    with pytest.raises(ConfigError, match="no in-kernel GICv3 ITS: use --irqchip gicv3"):
        arm64_vm(options=ITS, host=ModelHost(its=False)).build()
    with pytest.raises(ConfigError, match="no in-kernel GICV3"):
        arm64_vm(options=ITS, host=ModelHost(gicv3=False, gicv2=True)).build()


def test_the_gic_window_holds_the_its_with_the_most_vcpus():
    for cpus in (1, 8, 123):
        layout = mm.memory_layout(64 << 20, cpus)
        redistributors = mm.GIC_DIST_BASE - mm.GICV3_REDIST_SIZE * cpus
        assert its_base(redistributors) >= layout.windows["gic"].start
        assert layout.windows["virtio_mmio"].end <= layout.windows["gic"].start


def test_the_model_refuses_what_kvm_refuses(arm64_vm):
    vm = arm64_vm(options=ITS).build()
    vmfd = vm.vm.vmfd
    device = vmfd.create_device(u.KVM_DEV_TYPE_ARM_VGIC_ITS)  # a second ITS is allowed
    its = vm.vm.irqchip.its

    def place(base: int) -> int:
        try:
            device.set_attr(u.KVM_DEV_ARM_VGIC_GRP_ADDR, u.KVM_VGIC_ITS_ADDR_TYPE,
                            u.ffi.new("uint64_t *", base))
        except KvmError as error:
            return error.errno
        return 0

    with pytest.raises(KvmError) as init_first:
        device.set_attr(u.KVM_DEV_ARM_VGIC_GRP_CTRL, u.KVM_DEV_ARM_VGIC_CTRL_INIT)
    assert init_first.value.errno == errno.ENXIO  # no frame yet
    assert place(its.base + 0x1000) == errno.EINVAL  # misaligned
    assert place(its.base) == errno.EINVAL  # overlaps the first ITS
    assert place(1 << 40) == errno.E2BIG
    assert place(its.base - ITS_FRAME_SIZE) == 0
    assert place(its.base - 2 * ITS_FRAME_SIZE) == errno.EEXIST
    assert device.has_attr(u.KVM_DEV_ARM_VGIC_GRP_CTRL, u.KVM_DEV_ARM_ITS_CTRL_RESET)
    doorbell = its.base + GITS_TRANSLATER
    with pytest.raises(KvmError) as no_devid:
        vmfd.signal_msi(doorbell, 0)
    assert no_devid.value.errno == errno.EINVAL
    with pytest.raises(KvmError) as elsewhere:
        vmfd.signal_msi(0x0800_0040, 0, devid=8)
    assert elsewhere.value.errno == errno.EINVAL
    assert vmfd.signal_msi(doorbell, 3, devid=8) == 1


def test_device_tree_has_the_msi_controller_and_the_bridge_points_at_it(arm64_vm, tmp_path):
    from vmm.plugins.virtio.wiring import KEY

    vm = arm64_vm(options={**ITS, "virtio_transport": "pci", "rng": True}).build()
    blob = vm.vm.memory.read(vm.vm.dtb.guest_start, vm.vm.dtb.file_size)
    text = decompile(blob, tmp_path)
    its = vm.vm.irqchip.its
    node = text[text.index(f"msi-controller@{its.base:x} {{"):]
    node = node[: node.index("};")]
    assert 'compatible = "arm,gic-v3-its";' in node and "msi-controller;" in node
    assert f"reg = <0x0 {its.base:#x} 0x0 {ITS_FRAME_SIZE:#x}>;" in node
    assert f"phandle = <{its.phandle:#x}>;" in node
    assert "ranges;" in text[text.index("intc@"):text.index("msi-controller@")]
    bridge = text[text.index("pci@"):]
    assert f"msi-parent = <{its.phandle:#x}>;" in bridge
    assert "interrupt-map" not in bridge  # MSI-X only: no INTx routing
    (transport,) = vm.vm.stash[KEY].transports
    assert transport.intx is None and transport.msix.devid == 1 << 3  # 00:01.0


def test_dry_run_reports_msix_on_the_its():
    result = run_vmm("--irqchip", "gicv3-its", "--virtio-transport", "pci", "--rng")
    assert result.returncode == 0, result.stderr
    assert "virtio-rng: virtio-pci 00:01.0" in result.stdout and "MSI-X" in result.stdout
    assert f"KVM_CREATE_DEVICE(type={u.KVM_DEV_TYPE_ARM_VGIC_ITS})" in result.stdout
