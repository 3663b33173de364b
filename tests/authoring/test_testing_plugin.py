"""vmm's pytest plugin itself: minimal kernels, guest code, and the model VM helpers."""

from __future__ import annotations

import shutil
import struct
import subprocess

import pytest

from vmm.core.testing import NoModelError, make_model_vm, skip_or_fail
from vmm.core.testing.guest_code import arm64_poweroff, poweroff_code, riscv_poweroff
from vmm.core.testing.images import (
    ARM64_HEADER,
    RISCV_HEADER,
    X86_SETUP_HEADER,
    X86_SETUP_HEADER_START,
    layout,
    minimal_kernel,
    unpack_header,
)

from .standin_arch import StandInArch, standin_entries

# Offsets as Linux's boot documents print them (not computed): the layouts above
# must put each field there.
PUBLISHED_OFFSETS = {
    "x86": (X86_SETUP_HEADER, X86_SETUP_HEADER_START, {
        "setup_sects": 0x1F1, "syssize": 0x1F4, "boot_flag": 0x1FE, "jump": 0x200,
        "header": 0x202, "version": 0x206, "loadflags": 0x211, "code32_start": 0x214,
        "cmd_line_ptr": 0x228, "kernel_alignment": 0x230, "xloadflags": 0x236,
        "cmdline_size": 0x238, "setup_data": 0x250, "pref_address": 0x258,
        "init_size": 0x260, "kernel_info_offset": 0x268,
    }),
    "arm64": (ARM64_HEADER, 0, {"text_offset": 8, "image_size": 16, "flags": 24, "magic": 56}),
    "riscv": (RISCV_HEADER, 0, {"text_offset": 8, "image_size": 16, "flags": 24, "version": 32,
                                "magic": 48, "magic2": 56}),
}


@pytest.mark.parametrize("arch", sorted(PUBLISHED_OFFSETS))
def test_header_layouts_match_the_published_offsets(arch):
    fields, start, published = PUBLISHED_OFFSETS[arch]
    _, offsets = layout(fields)
    assert {name: start + offsets[name] for name in published} == published


def test_minimal_images_carry_their_magic_numbers():
    x86 = minimal_kernel("x86")
    assert x86[0x1FE:0x200] == b"\x55\xaa" and x86[0x202:0x206] == b"HdrS"
    setup = unpack_header(X86_SETUP_HEADER, x86, X86_SETUP_HEADER_START)
    assert len(x86) == (setup["setup_sects"] + 1) * 512 + 0x200 + len(poweroff_code("x86"))
    assert setup["syssize"] * 16 >= len(x86) - (setup["setup_sects"] + 1) * 512
    arm64 = unpack_header(ARM64_HEADER, minimal_kernel("arm64"))
    assert arm64["magic"] == b"ARM\x64" and arm64["image_size"] % 4096 == 0
    riscv = unpack_header(RISCV_HEADER, minimal_kernel("riscv"))
    assert (riscv["magic"], riscv["magic2"]) == (b"RISCV\0\0\0", b"RSC\x05")


def test_header_fields_can_be_overridden_and_unknown_ones_are_refused():
    image = minimal_kernel("arm64", text_offset=0x80000)
    assert unpack_header(ARM64_HEADER, image)["text_offset"] == 0x80000
    with pytest.raises(TypeError, match="unknown header fields: txt_offset"):
        minimal_kernel("arm64", txt_offset=0)
    with pytest.raises(ValueError, match="no minimal kernel for architecture 'mips'"):
        minimal_kernel("mips")


def test_minimal_kernel_is_accepted_by_each_arch_loader(vmm_vm, vmm_arch):
    """The real arch plugin recognises the image and copies its code into RAM."""
    data = minimal_kernel(vmm_arch)
    vm = vmm_vm(vmm_arch, kernel=data).build(until="core")
    assert vm.stages.completed == ["core"]
    image = vm.vm.kernel
    assert image is not None and image.kind == "kernel"
    code = poweroff_code(vmm_arch)
    # The code that stops the VM is where the image's entry (or its payload) says.
    assert code in vm.vm.memory.read(image.guest_start, image.file_size)
    assert image.mem_size >= image.file_size


def test_build_until_refuses_an_unknown_stage(vmm_vm):
    vm = vmm_vm("riscv", entries=standin_entries("riscv"))
    with pytest.raises(ValueError, match="unknown stage 'devices'"):
        vm.build(until="devices")


def test_exits_after_the_vm_stopped_are_refused(vmm_vm):
    vm = vmm_vm("arm64", entries=standin_entries("arm64")).build()
    vm.exit("system_event", type=1)
    assert vm.stopped and vm.exit_code == 0
    with pytest.raises(AssertionError, match="already stopped with exit code 0"):
        vm.mmio_read(0x1000)


def test_ioctl_log_and_hooks_called_record_the_build(vmm_vm, vmm_arch):
    vm = vmm_vm(vmm_arch, entries=standin_entries(vmm_arch), cpus=2).build()
    assert vm.ioctl_names()[:3] == ["KVM_GET_API_VERSION", "KVM_CHECK_EXTENSION", "KVM_CREATE_VM"]
    assert vm.ioctl_names().count("KVM_CREATE_VCPU") == 2
    assert "vm: KVM_CREATE_VCPU(id=1)" in vm.ioctl_log()
    assert vm.hooks_called("vmm_load_kernel") == [f"standin-{vmm_arch}"]
    assert vm.hooks_called("vmm_core_init") == ["core", "core"]


def test_an_arch_without_a_model_is_named(tmp_path):
    class NoModel(StandInArch):
        vmm_kvm_model = None  # type: ignore[assignment]

    entries = standin_entries("riscv")
    entries[1].module = NoModel("riscv")  # type: ignore[assignment]
    with pytest.raises(NoModelError, match="the riscv plugin gives no model of KVM"):
        make_model_vm("riscv", workdir=tmp_path, entries=entries)


@pytest.mark.parametrize(("triple", "code", "expected"), [
    ("aarch64", arm64_poweroff(), ["mov x0, #8", "movk x0, #33792, lsl #16", "hvc #0", "b #0"]),
    ("riscv64", riscv_poweroff(), ["lui a7, 341285", "addiw a7, a7, 852", "li a6, 0", "li a0, 0",
                                   "li a1, 0", "ecall", "j 0"]),
    ("x86_64", poweroff_code("x86"), ["cli", "hlt", "jmp -3"]),
])
def test_guest_code_disassembles_as_intended(triple, code, expected):
    """Cross-check the hand encoders with LLVM's disassembler, where it is installed."""
    llvm_mc = shutil.which("llvm-mc")
    if llvm_mc is None:
        skip_or_fail("llvm-mc is not installed (apt-get install llvm) to cross-check encodings")
    text = " ".join(f"0x{byte:02x}" for byte in code)
    result = subprocess.run([llvm_mc, "--disassemble", f"-triple={triple}"], input=text,
                            capture_output=True, text=True, check=True)
    lines = [" ".join(line.split()) for line in result.stdout.splitlines()
             if line.strip() and not line.strip().startswith(".")]
    assert lines == expected
    assert struct.calcsize("<I") * len(expected) == len(code) or triple == "x86_64"
