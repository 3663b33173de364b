"""TAP network backends: /dev/net/tun with TUNSETIFF, virtio-net headers on."""

from __future__ import annotations

import fcntl
import os

from vmm.core.errors import ConfigError
from vmm.core.kvm.ioc import IoctlTable

from .cdefs import ffi, sizeof

TUN_DEVICE = "/dev/net/tun"
TUN_IOCTL_TYPE = ord("T")
# Interface flags (linux/if_tun.h).
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000

_tun = IoctlTable(ffi, TUN_IOCTL_TYPE)
TUNSETIFF = _tun.iow("TUNSETIFF", 202, "int")
TUNSETVNETHDRSZ = _tun.iow("TUNSETVNETHDRSZ", 216, "int")

#: Header TUN prepends to each frame: the virtio 1.x one, with num_buffers.
VNET_HDR_SIZE = sizeof("struct virtio_net_hdr_v1")


def open_tap(name: str) -> tuple[int, str]:
    """Open (or create) TAP interface ``name``; return its fd and the kernel's name."""
    try:
        fd = os.open(TUN_DEVICE, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise ConfigError(
            f"can't open {TUN_DEVICE} for --network: {error.strerror} (is the tun module loaded?)"
        ) from None
    request = ffi.new("struct ifreq_flags *")
    encoded = name.encode()
    if len(encoded) >= len(request.ifr_name):
        os.close(fd)
        raise ConfigError(f"--network tapif={name!r}: interface names are at most "
                          f"{len(request.ifr_name) - 1} characters")
    request.ifr_name = encoded
    request.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR
    buffer = ffi.buffer(request)
    try:
        fcntl.ioctl(fd, TUNSETIFF.number, buffer)
        header_size = ffi.new("int *", VNET_HDR_SIZE)
        fcntl.ioctl(fd, TUNSETVNETHDRSZ.number, ffi.buffer(header_size))
    except OSError as error:
        os.close(fd)
        raise ConfigError(
            f"can't attach TAP interface {name or '(new)'}: {error.strerror} (vmm needs "
            "CAP_NET_ADMIN, or a tap made with 'ip tuntap add NAME mode tap user USER')"
        ) from None
    return fd, ffi.string(request.ifr_name).decode()
