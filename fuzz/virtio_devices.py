"""The virtqueue walker and each device's request parser, fed a guest's rings.

Each input lays out one split virtqueue in a small guest RAM: its descriptor table
and available ring (addresses mostly inside RAM, sometimes anywhere), then the
bytes the buffers hold. The device serves the queue as its I/O thread would. The
walker may refuse a chain (the device then asks for a reset); nothing else may
escape, the used ring may only hold chains the driver made available, and no
buffer outside guest RAM may be touched (GuestMemory refuses those).
"""

from __future__ import annotations

import os
import socket
import struct
import tempfile
from typing import Any

from . import OneInput, Target
from .reader import Reader

RAM_START = 0x100000
RAM_SIZE = 256 << 10
QUEUE_SIZE = 16
DESC_AT = RAM_START
AVAIL_AT = RAM_START + 0x400
USED_AT = RAM_START + 0x800
BUFFERS_AT = RAM_START + 0x1000
DISK_SIZE = 64 << 10
DESC = struct.Struct("<QIHH")


class _Transport:
    """Records what the device asks of its transport."""

    def __init__(self) -> None:
        self.resets: list[str] = []

    def signal_used(self, queue: Any) -> None:
        pass

    def signal_config(self) -> None:
        pass

    def needs_reset(self, reason: str) -> None:
        self.resets.append(reason)


def _descriptor(reader: Reader) -> bytes:
    mode = reader.uint(1)
    if mode & 1:  # anywhere: the walker must refuse what is not RAM
        address = reader.uint(8)
    else:
        address = BUFFERS_AT + reader.below(RAM_SIZE - (BUFFERS_AT - RAM_START) + 64)
    length = reader.uint(4) if mode & 2 else reader.uint(2)
    flags = reader.uint(2) if mode & 4 else reader.uint(1) & 7
    return DESC.pack(address, length, flags, reader.uint(1) % (QUEUE_SIZE + 4))


def _lay_out_queue(memory: Any, reader: Reader) -> tuple[bool, bool]:
    """Write the rings and buffers of one input; return (event_idx, indirect)."""
    features = reader.uint(1)
    table = b"".join(_descriptor(reader) for _ in range(QUEUE_SIZE))
    memory.write(DESC_AT, table)
    count = reader.uint(1) % (QUEUE_SIZE + 3)
    ring = [reader.uint(1) % (QUEUE_SIZE + 4) for _ in range(QUEUE_SIZE)]
    memory.write(AVAIL_AT, struct.pack(f"<HH{QUEUE_SIZE}HH", reader.uint(2), count, *ring,
                                       reader.uint(2)))
    memory.write(USED_AT, bytes(4 + 8 * QUEUE_SIZE + 2))
    contents = reader.take(RAM_SIZE - (BUFFERS_AT - RAM_START))
    memory.write(BUFFERS_AT, contents.ljust(RAM_SIZE - (BUFFERS_AT - RAM_START), b"\0"))
    return bool(features & 1), bool(features & 2)


def _serve(device: Any, memory: Any, data: bytes, queue_index: int) -> None:
    from vmm.plugins.virtio.queue import QueueSetupError

    reader = Reader(data)
    event_idx, indirect = _lay_out_queue(memory, reader)
    queue = device.queues[queue_index]
    queue.reset()
    queue.size = QUEUE_SIZE
    queue.desc_addr, queue.avail_addr, queue.used_addr = DESC_AT, AVAIL_AT, USED_AT
    queue.ready = True
    try:
        queue.activate(memory, event_idx=event_idx, indirect=indirect)
    except QueueSetupError:
        raise AssertionError("a queue inside RAM could not be activated") from None
    available = memory.read_u(AVAIL_AT + 2, 2)
    device.process(queue)
    used = memory.read_u(USED_AT + 2, 2)
    assert used <= available, f"{used} used of {available} available"
    heads = [memory.read_u(USED_AT + 4 + 8 * slot, 4) for slot in range(used)]
    assert all(head < QUEUE_SIZE for head in heads), heads


def _bench(make_device) -> tuple[Any, Any]:
    from vmm.core.memory import GuestMemory

    memory = GuestMemory()
    memory.add(RAM_START, RAM_SIZE)
    device = make_device()
    device.transport = _Transport()
    return device, memory


def _blk() -> OneInput:
    from vmm.plugins.virtio.blk import BlockDevice, DiskSpec

    handle, path = tempfile.mkstemp(prefix="vmm-fuzz-", suffix=".img")
    os.ftruncate(handle, DISK_SIZE)
    os.close(handle)
    device, memory = _bench(lambda: BlockDevice(DiskSpec(path)))
    os.unlink(path)  # the device keeps it open; nothing is left behind
    return lambda data: _serve(device, memory, data, 0)


def _rng() -> OneInput:
    from vmm.plugins.virtio.rng import RngDevice

    device, memory = _bench(RngDevice)
    return lambda data: _serve(device, memory, data, 0)


def _console() -> OneInput:
    from vmm.plugins.virtio.console import ConsoleDevice

    device, memory = _bench(lambda: ConsoleDevice(lambda data: None))

    def one_input(data: bytes) -> None:
        reader = Reader(data[:1])
        _serve(device, memory, data[1:], reader.uint(1) & 1)
        device.write_config(reader.below(16), 4, int.from_bytes(data[-4:].ljust(4, b"\0"), "little"))

    return one_input


def _net() -> OneInput:
    from vmm.plugins.virtio.net import RECEIVE_QUEUE, TRANSMIT_QUEUE, NetDevice
    from vmm.plugins.virtio.queue import ChainError

    wire, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    wire.setblocking(False)
    peer.setblocking(False)
    device, memory = _bench(lambda: NetDevice(wire.detach(), b"\x02\0\0\0\0\1"))

    def one_input(data: bytes) -> None:
        if data[:1] and data[0] & 1:  # a frame from the network into receive buffers
            peer.send(data[-1600:] or b"\0")
            _serve(device, memory, data[1:], RECEIVE_QUEUE)
            try:
                device._receive()  # on the I/O thread, which reports a bad chain
            except ChainError:
                pass
            _drain(device.wire.fd)  # a frame the guest had no buffer for
        else:  # frames the guest sends
            _serve(device, memory, data[1:], TRANSMIT_QUEUE)
            _drain(peer.fileno())

    return one_input


def _drain(fd: int) -> None:
    while True:
        try:
            os.read(fd, 65536)
        except BlockingIOError:
            return


def encode(descriptors: list[tuple[int, int, int, int]], heads: list[int],
           contents: bytes, features: int = 2) -> bytes:
    """An input as :func:`_lay_out_queue` reads it: descriptors (offset in the buffer
    area, length, flags, next), the available heads, the buffers' bytes."""
    table = b""
    for index in range(QUEUE_SIZE):
        offset, length, flags, following = (descriptors[index] if index < len(descriptors)
                                            else (0, 0, 0, 0))
        table += struct.pack("<BIHBB", 0, offset, length, flags, following)
    ring = bytes(heads).ljust(QUEUE_SIZE, b"\0")
    return bytes([features]) + table + bytes([len(heads)]) + ring + bytes(4) + contents


def _request(kind: int, payload: bytes = b"", data_in: int = 0) -> bytes:
    header = struct.pack("<IIQ", kind, 0, 1)
    descriptors = [(0, 16, 1, 1)]
    if payload:
        descriptors.append((0x100, len(payload), 1, 2))
    if data_in:
        descriptors.append((0x800, data_in, 3, len(descriptors) + 1))
    descriptors.append((0x1000, 1, 2, 0))
    contents = header.ljust(0x100, b"\0") + payload
    return encode(descriptors, [0], contents)


def _blk_seeds() -> list[bytes]:
    """A read, a write, a flush, a get-id and two-segment discard / write-zeroes."""
    segments = struct.pack("<QII", 2, 4, 0) + struct.pack("<QII", 40, 8, 1)
    return [_request(0, data_in=1024), _request(1, b"W" * 512), _request(4),
            _request(8, data_in=20), _request(11, segments), _request(13, segments)]


def _plain_seeds() -> list[bytes]:
    """One writable buffer, and a readable one (what rng, console and net take)."""
    return [encode([(0, 64, 2, 0)], [0], b""), encode([(0, 64, 0, 0)], [0], b"hello"),
            b"\x01" + encode([(0, 1514, 2, 0)], [0], b"")]


TARGETS = {
    "virtio-blk": Target("virtio-blk", "virtqueue walker + virtio-blk requests (incl. "
                         "discard/write-zeroes segments)", _blk, _blk_seeds),
    "virtio-net": Target("virtio-net", "virtqueue walker + virtio-net transmit and receive",
                         _net, _plain_seeds),
    "virtio-rng": Target("virtio-rng", "virtqueue walker + virtio-rng", _rng, _plain_seeds),
    "virtio-console": Target("virtio-console", "virtqueue walker + virtio-console queues "
                             "and emergency write", _console, _plain_seeds),
}
