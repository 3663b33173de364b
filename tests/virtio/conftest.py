"""Fixtures: model-backed arm64 (virtio-mmio) and x86 (virtio-pci) VMs, disk images."""

from __future__ import annotations

import pytest

from .driver import Allocator

MIB = 1 << 20
PATTERN = bytes(range(256)) * 16  # 4 KiB


@pytest.fixture
def disk_image(tmp_path):
    """A 1 MiB raw image: sector n starts with the bytes b"sector%04d"."""
    data = bytearray(MIB)
    for sector in range(MIB // 512):
        data[sector * 512 : sector * 512 + 10] = b"sector%04d" % sector
    path = tmp_path / "disk.img"
    path.write_bytes(data)
    return path


def guest_allocator(vm) -> Allocator:
    """Test buffers in the middle of guest RAM (away from kernels and device trees)."""
    bank = vm.layout.banks[0]
    start = bank.start + 16 * MIB
    return Allocator(start, start + 16 * MIB)


@pytest.fixture
def model_vm(vmm_vm):
    """``model_vm(arch, **options)``: a built model-backed VM with virtio options (a
    dry run unless ``dry_run=False``: then disks are writable, as in a real run)."""

    def factory(arch: str, extra_plugins=(), console: str = "serial", dry_run: bool = True,
                **options):
        vm = vmm_vm(arch, options=options, mem_mib=64, console=console,
                    extra_plugins=list(extra_plugins), dry_run=dry_run)
        return vm.build()

    return factory
