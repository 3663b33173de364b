"""The kernel image loaders of each architecture, fed any file.

x86 recognises bzImage, ELF (PVH or 64-bit) and flat binaries, arm64 and riscv
their Image headers (and raw binaries as firmware). Each input goes through the
arch plugin's ``vmm_load_kernel`` (and ``vmm_load_firmware``) on a model VM with
8 MiB of RAM, as ``vmm run -k FILE`` would: a refusal is a one-line VmmError;
anything else escaping, or a write outside guest RAM, is a finding.
"""

from __future__ import annotations

import shutil
import struct
import tempfile

from . import OneInput, Target

RAM_MIB = 8


def _loader(arch: str) -> OneInput:
    from vmm.core.errors import VmmError
    from vmm.core.testing.model_vm import make_model_vm

    workdir = tempfile.mkdtemp(prefix="vmm-fuzz-images-")
    model = make_model_vm(arch, workdir=workdir, mem_mib=RAM_MIB).build(until="core")
    shutil.rmtree(workdir)
    vm = model.vm

    def one_input(data: bytes) -> None:
        model.hook_calls.clear()  # the test harness's record would grow per input
        model.hook_invocations.clear()
        as_firmware = bool(data[:1]) and data[0] == 0xFF
        try:
            if as_firmware:
                vm.hook.vmm_load_firmware(vm=vm, data=data[1:], path="fuzz.bin")
            else:
                image = vm.hook.vmm_load_kernel(vm=vm, data=data, path="fuzz.img")
                if image is not None:
                    assert vm.memory.contains(image.guest_start, image.file_size), image
        except VmmError:
            pass  # a refusal, one line for the user

    return one_input


def _x86_seeds() -> list[bytes]:
    from vmm.core.testing.images import x86_bzimage

    elf = bytearray(64)
    elf[:4] = b"\x7fELF"
    elf[4:7] = b"\x02\x01\x01"
    struct.pack_into("<HHIQQQIHHHHHH", elf, 16, 2, 0x3E, 1, 0x100000, 64, 0, 0, 64, 56, 1,
                     64, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, 0x100000, 0x100000, 64, 64, 0x1000)
    return [x86_bzimage(), bytes(elf) + phdr, b"\xf4" * 16]


def _image_seeds(arch: str) -> list[bytes]:
    from vmm.core.testing.images import arm64_image, riscv_image

    image = arm64_image() if arch == "arm64" else riscv_image()
    return [image, b"\xff" + image[:64]]


TARGETS = {
    "x86-kernel": Target("x86-kernel", "x86 kernel loaders: bzImage, ELF/PVH, flat",
                         lambda: _loader("x86"), _x86_seeds),
    "arm64-kernel": Target("arm64-kernel", "arm64 Image loader (and raw firmware)",
                           lambda: _loader("arm64"), lambda: _image_seeds("arm64")),
    "riscv-kernel": Target("riscv-kernel", "riscv Image loader (and raw firmware)",
                           lambda: _loader("riscv"), lambda: _image_seeds("riscv")),
}
