"""A real Debian x86_64 kernel for the tests: the newest linux-image package of the
x86 emulated host's suites, fetched once with the nested hosts' private apt (same
mirror, lists and .deb cache), and its uncompressed vmlinux extracted from the
bzImage's payload and cached under ~/.cache/vmm/test-kernels/<package>/.

The payload is found through the setup header (payload_offset/payload_length,
boot protocol 2.08+) and decompressed here: xz with Python's lzma (Debian 6.1),
zstd with the zstd command (Debian 6.12). Both carry the uncompressed size in the
last four bytes, which the result is checked against.
"""

from __future__ import annotations

import lzma
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

from vmm.core.nested import cache
from vmm.core.nested.apt import PrivateApt, find_debian_mirror
from vmm.plugins.x86.emulated_host import emulated_host

SETUP_SECTS = 0x1F1
PAYLOAD_FIELDS = 0x248  # payload_offset, payload_length
SECTOR = 512
XZ_MAGIC = b"\xfd7zXZ\x00"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def test_kernel_dir() -> Path:
    return cache.cache_root().parent / "test-kernels"


def decompress_payload(bzimage: bytes) -> bytes:
    """The uncompressed vmlinux inside a bzImage."""
    setup_sects = bzimage[SETUP_SECTS] or 4
    offset, length = struct.unpack_from("<II", bzimage, PAYLOAD_FIELDS)
    start = (setup_sects + 1) * SECTOR + offset
    payload = bzimage[start : start + length]
    stream, size = payload[:-4], struct.unpack("<I", payload[-4:])[0]
    if stream.startswith(XZ_MAGIC):
        data = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(stream)
    elif stream.startswith(ZSTD_MAGIC):
        if shutil.which("zstd") is None:
            raise RuntimeError("the kernel is zstd-compressed: install Debian's zstd package")
        data = subprocess.run(["zstd", "-d", "-c", "-q"], input=stream, capture_output=True,
                              check=True).stdout
    else:
        raise RuntimeError(f"unknown kernel compression (magic {stream[:6].hex()})")
    if len(data) & 0xFFFFFFFF != size:
        raise RuntimeError(f"decompressed {len(data)} bytes, the bzImage says {size}")
    return data


def debian_vmlinux() -> tuple[str, Path]:
    """(package name, path of its uncompressed vmlinux), downloading on first use."""
    spec = emulated_host()
    key = f"{spec.debian_arch}-{'-'.join(spec.debian_suites)}"
    apt = PrivateApt(cache.cache_root() / "apt" / key, find_debian_mirror(),
                     spec.debian_suites, spec.debian_arch)
    package = apt.newest_matching(spec.kernel_package_pattern)
    target = test_kernel_dir() / package / "vmlinux"
    if target.is_file():
        return package, target
    (deb,) = apt.download(apt.resolve([package]), cache.cache_root() / "debs" / spec.debian_arch)
    with tempfile.TemporaryDirectory(prefix="vmm-test-kernel-") as scratch:
        subprocess.run(["dpkg-deb", "-x", str(deb), scratch], check=True,
                       stdin=subprocess.DEVNULL, capture_output=True)
        (vmlinuz,) = Path(scratch, "boot").glob("vmlinuz-*")
        vmlinux = decompress_payload(vmlinuz.read_bytes())
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_bytes(vmlinux)
    partial.replace(target)
    return package, target
