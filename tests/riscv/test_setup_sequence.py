"""The riscv setup sequence, against the model of KVM: AIA and PLIC, CLI and fixture."""

from __future__ import annotations

import pytest

from vmm.core.errors import ConfigError
from vmm.plugins.riscv.image import FDT_MAX_SIZE
from vmm.plugins.riscv.model import RiscvProfile

from .conftest import vmm

RAM_START = 0x8000_0000
KERNEL_START = RAM_START + 0x20_0000


def _index(names: list[str], name: str, last: bool = False) -> int:
    positions = [i for i, item in enumerate(names) if item == name]
    assert positions, f"{name} not in {names}"
    return positions[-1] if last else positions[0]


def test_dry_run_with_aia_creates_and_initialises_the_aia(kernel_path):
    result = vmm("run", "--arch", "riscv", "--dry-run", "-k", kernel_path, "-c", "2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    text = result.stdout
    assert "vm: KVM_CHECK_EXTENSION(cap=0)" in text
    assert "vm: KVM_CREATE_DEVICE(type=11)" in text
    create_device = next(i for i, line in enumerate(lines) if "KVM_CREATE_DEVICE" in line)
    first_vcpu = next(i for i, line in enumerate(lines) if "KVM_CREATE_VCPU(id=0)" in line)
    last_vcpu = next(i for i, line in enumerate(lines) if "KVM_CREATE_VCPU(id=1)" in line)
    ctrl_init = next(i for i, line in enumerate(lines) if "KVM_SET_DEVICE_ATTR(group=2 attr=0x0)" in line)
    imsic1 = next(i for i, line in enumerate(lines) if "KVM_SET_DEVICE_ATTR(group=1 attr=0x2)" in line)
    boot_pc = next(i for i, line in enumerate(lines) if "KVM_SET_ONE_REG(id=0x8030000002000000)" in line)
    assert create_device < first_vcpu < last_vcpu < imsic1 < ctrl_init < boot_pc


def test_dry_run_with_plic_creates_no_device(kernel_path):
    result = vmm("run", "--arch", "riscv", "--dry-run", "-k", kernel_path, "--irqchip", "plic")
    assert result.returncode == 0, result.stderr
    assert "KVM_CREATE_DEVICE" not in result.stdout
    assert "KVM_SET_DEVICE_ATTR" not in result.stdout
    assert "vcpu0: KVM_SET_ONE_REG(id=0x8030000002000000)" in result.stdout


def test_fixture_log_with_aia(riscv_vm):
    vm = riscv_vm(cpus=2).build()
    names = vm.ioctl_names()
    assert names[:3] == ["KVM_GET_API_VERSION", "KVM_CHECK_EXTENSION", "KVM_CREATE_VM"]
    assert _index(names, "KVM_CREATE_DEVICE") < _index(names, "KVM_CREATE_VCPU")
    assert names.count("KVM_SET_DEVICE_ATTR") == 2 + 1 + 2 + 1  # srcs, hart bits; APLIC; 2 IMSICs; INIT
    assert names.count("KVM_GET_DEVICE_ATTR") == 2  # mode and ids
    assert _index(names, "KVM_SET_DEVICE_ATTR", last=True) > _index(names, "KVM_CREATE_VCPU", last=True)
    assert vm.vm.irqchip.kind == "aia"
    aia = vm.backend.system.vms[-1].arch["aia"]
    assert aia.arch["initialized"]
    assert aia.arch["config"]["srcs"] == 63
    assert aia.arch["config"]["hart_bits"] == 1
    assert aia.arch["imsic"] == {0: 0x0800_0000, 1: 0x0800_1000}
    assert aia.arch["aplic"] == 0x0C00_0000


def test_fixture_log_with_plic_when_the_host_has_no_aia(riscv_vm):
    vm = riscv_vm(profile=RiscvProfile(aia=False), cpus=2).build()
    names = vm.ioctl_names()
    assert "KVM_CREATE_DEVICE" not in names
    assert vm.vm.irqchip.kind == "plic"
    assert "vm: KVM_CHECK_EXTENSION(cap=0)" in vm.ioctl_log()


def test_ssaia_hidden_means_plic_in_auto(riscv_vm):
    vm = riscv_vm(options={"disable_ssaia": True}).build()
    assert vm.vm.irqchip.kind == "plic"
    assert "KVM_CREATE_DEVICE" not in vm.ioctl_names()


def test_irqchip_aia_without_aia_is_a_one_line_error(riscv_vm):
    vm = riscv_vm(profile=RiscvProfile(aia=False), options={"irqchip": "aia"})
    with pytest.raises(ConfigError, match=r"--irqchip aia: KVM can't create the in-kernel AIA.*use --irqchip plic"):
        vm.build()


def test_irqchip_aia_with_ssaia_disabled_is_refused(riscv_vm):
    with pytest.raises(ConfigError, match="drop --disable-ssaia"):
        riscv_vm(options={"irqchip": "aia", "disable_ssaia": True})


@pytest.mark.parametrize("cpus", [1, 3])
def test_boot_registers(riscv_vm, cpus):
    vm = riscv_vm(cpus=cpus, mem_mib=128).build()
    dtb = RAM_START + (128 << 20) - FDT_MAX_SIZE
    assert vm.vm.dtb.guest_start == dtb
    for vcpu_id, state in vm.backend.system.vms[-1].vcpus.items():
        core = state.arch["core"]
        assert core[0] == KERNEL_START  # pc
        assert core[10] == vcpu_id  # a0: hart id
        assert core[11] == dtb  # a1: device tree


def test_run_until_the_guest_shuts_down(riscv_vm):
    vm = riscv_vm(cpus=2).build()
    assert vm.run() == 0


def test_windows_are_named(riscv_vm):
    vm = riscv_vm().build()
    windows = vm.vm.layout.windows
    for name in ("uart", "virtio_mmio", "pci_ecam", "pci_mmio", "plic", "aplic", "imsic"):
        assert name in windows
        assert windows[name].end <= RAM_START
    assert vm.vm.layout.ram_start == RAM_START


def test_aia_mode_is_set_before_the_rest(riscv_vm):
    vm = riscv_vm(options={"aia_mode": "emul"}).build()
    aia = vm.backend.system.vms[-1].arch["aia"]
    assert aia.arch["config"]["mode"] == 0
    assert vm.vm.irqchip.mode == 0
    assert "device: KVM_SET_DEVICE_ATTR(group=0 attr=0x0)" in vm.ioctl_log()


def test_aia_mode_with_plic_is_refused(riscv_vm):
    with pytest.raises(ConfigError, match="--aia-mode needs the AIA"):
        riscv_vm(options={"aia_mode": "emul", "irqchip": "plic"})
