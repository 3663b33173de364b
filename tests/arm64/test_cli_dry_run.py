"""``vmm run --arch arm64 --dry-run`` end to end: the call sequence, the device tree
(checked by dtc, byte-identical across runs), and one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmm.core.testing import minimal_kernel
from vmm.plugins.arm64 import uapi as u

from .conftest import decompile, run_vmm


@pytest.fixture
def image(tmp_path: Path) -> str:
    path = tmp_path / "Image"
    path.write_bytes(minimal_kernel("arm64"))
    return str(path)


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_default_vm_dry_run(image):
    result = run_vmm("-k", image)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in ("kvm: KVM_CREATE_VM(type=0x20)",
                     f"vm: KVM_CREATE_DEVICE(type={u.KVM_DEV_TYPE_ARM_VGIC_V3})",
                     "vm: KVM_ARM_PREFERRED_TARGET(target=5)",
                     "vcpu0: KVM_ARM_VCPU_INIT(target=5 features=0x74)",  # no PMU (bit 3)
                     "vcpu0: KVM_SET_DEVICE_ATTR(group=2 attr=0 ipa=0x1020000)",
                     "device: KVM_SET_DEVICE_ATTR(group=4 attr=0x0)",
                     "vcpu0: KVM_ARM_VCPU_FINALIZE(feature=4)"):
        assert expected in out


def test_disable_sve_and_no_pvtime(image):
    result = run_vmm("-k", image, "--disable-sve", "--no-pvtime")
    assert result.returncode == 0, result.stderr
    assert "KVM_ARM_VCPU_FINALIZE" not in result.stdout
    assert "features=0x64" in result.stdout
    assert "group=2" not in result.stdout


def test_flash_turns_mte_off_with_a_compat_message(image, tmp_path):
    flash = tmp_path / "flash.img"
    flash.write_bytes(b"\xff" * (1 << 20))
    result = run_vmm("-k", image, "--model-host", "mte=1", "--flash", str(flash))
    assert result.returncode == 0, result.stderr
    assert "KVM_ENABLE_CAP" not in result.stdout
    assert "MTE is incompatible with CFI flash support, disabling" in result.stderr
    assert "slot=2 gpa=0x2000000 size=0x100000" in result.stdout  # the array, mapped
    quiet = run_vmm("-k", image, "--model-host", "mte=1", "--flash", str(flash), "--nocompat")
    assert "MTE" not in quiet.stderr
    with_mte = run_vmm("-k", image, "--model-host", "mte=1")
    assert f"KVM_ENABLE_CAP(cap={u.KVM_CAP_ARM_MTE}" in with_mte.stdout


def test_device_tree_is_complete_and_deterministic(image, tmp_path):
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"\x30" * 1000)
    blobs = []
    for run in range(2):
        out = tmp_path / f"run{run}.dtb"
        result = run_vmm("-k", image, "-i", str(initrd), "-c", "2", "-p", "console=ttyS0 quiet",
                         "--pmu", "--dtb-out", str(out))
        assert result.returncode == 0, result.stderr
        blobs.append(out.read_bytes())
    assert blobs[0] == blobs[1]
    dts = decompile(blobs[0], tmp_path)
    for fragment in (
        'compatible = "linux,dummy-virt";',
        "memory@80000000 {", "reg = <0x0 0x80000000 0x0 0x10000000>;",
        "cpu@0 {", "cpu@1 {", 'enable-method = "psci";',
        'compatible = "arm,psci-0.2\\0arm,psci";', 'method = "hvc";',
        "intc@3fff0000 {", 'compatible = "arm,gic-v3";', "interrupt-controller;",
        'compatible = "arm,armv8-timer\\0arm,armv7-timer";',
        'compatible = "arm,armv8-pmuv3";',
        "serial@1000000 {", 'compatible = "ns16550a";', "interrupts = <0x0 0x0 0x4>;",
        'bootargs = "console=ttyS0 quiet";', 'stdout-path = "/serial@1000000";',
        "linux,initrd-start = <0x0 0x8fdffc18>;", "linux,initrd-end = <0x0 0x8fe00000>;",
    ):
        assert fragment in dts, fragment


def test_gicv2_device_tree(image, tmp_path):
    out = tmp_path / "v2.dtb"
    result = run_vmm("-k", image, "-c", "2", "--irqchip", "gicv2", "--model-host", "gicv2=1",
                     "--dtb-out", str(out))
    assert result.returncode == 0, result.stderr
    dts = decompile(out.read_bytes(), tmp_path)
    assert 'compatible = "arm,cortex-a15-gic";' in dts
    assert "pmu" not in dts  # a PMU only with --pmu, as kvmtool
    assert "reg = <0x0 0x3fff0000 0x0 0x1000 0x0 0x3ffd0000 0x0 0x2000>;" in dts
    assert "interrupts = <0x1 0xd 0x304" in dts  # PPI 13, CPU mask for 2 CPUs


def test_psci_0_1_without_the_cap(image, tmp_path):
    out = tmp_path / "psci01.dtb"
    result = run_vmm("-k", image, "--model-host", "psci_0_2=0", "--dtb-out", str(out))
    assert result.returncode == 0, result.stderr
    dts = decompile(out.read_bytes(), tmp_path)
    assert 'compatible = "arm,psci";' in dts and "cpu_on = <0x95c1ba60>;" in dts


def test_flash_node(image, tmp_path):
    flash = tmp_path / "flash.img"
    flash.write_bytes(b"\xff" * (1 << 16))
    out = tmp_path / "flash.dtb"
    assert run_vmm("-k", image, "--flash", str(flash), "--dtb-out", str(out)).returncode == 0
    dts = decompile(out.read_bytes(), tmp_path)
    assert "flash@2000000 {" in dts and 'compatible = "cfi-flash";' in dts
    assert "bank-width = <0x4>;" in dts


def test_empty_kernel_is_a_one_line_error(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(b"")
    assert_one_line_error(run_vmm("-k", str(path)), "is empty")


def test_headerless_kernel_loads_as_a_flat_binary(tmp_path):
    path = tmp_path / "test.flat"
    path.write_bytes(minimal_kernel("arm64", magic=b"XXXX"))
    result = run_vmm("-k", str(path))
    assert result.returncode == 0, result.stderr  # placement: tests/arm64/test_images.py


def test_raw_binary_boots_as_firmware(tmp_path):
    path = tmp_path / "raw.bin"
    path.write_bytes(b"\x1f\x20\x03\xd5" * 4)
    result = run_vmm("--firmware", str(path))
    assert result.returncode == 0, result.stderr


def test_initrd_too_big_is_a_one_line_error(image, tmp_path):
    initrd = tmp_path / "huge"
    initrd.write_bytes(b"\0" * (63 << 20))
    assert_one_line_error(run_vmm("-k", image, "-m", "64", "-i", str(initrd)),
                          "initrd", "doesn't fit in RAM")


def test_dtb_that_does_not_fit_is_a_one_line_error(image):
    assert_one_line_error(run_vmm("-k", image, "-m", "2"), "device tree", "use -m")


def test_irqchip_the_host_lacks_is_a_one_line_error(image):
    assert_one_line_error(run_vmm("-k", image, "--irqchip", "gicv2"),
                          "no in-kernel GICV2", "--irqchip gicv3")


def test_memory_too_large_is_a_one_line_error(image):
    assert_one_line_error(run_vmm("-k", image, "-m", "8192", "--model-host", "ipa=32"),
                          "memory too large")


@pytest.mark.parametrize("args, fragment", [
    (("--flash", "/nonexistent/flash"), "no such file"),
    (("--model-host", "nonsense"), "--model-host"),
    (("--dtb-out", "/nonexistent/dir/x.dtb"), "does not exist"),
])
def test_bad_options_are_one_line_errors(image, args, fragment):
    assert_one_line_error(run_vmm("-k", image, *args), fragment)


def test_bad_flash_size(image, tmp_path):
    flash = tmp_path / "odd.img"
    flash.write_bytes(b"\xff" * 1000)
    assert_one_line_error(run_vmm("-k", image, "--flash", str(flash)), "power of two")
