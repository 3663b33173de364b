"""virtio-rng, virtio-console and virtio-net (on a socketpair standing in for a TAP)."""

from __future__ import annotations

import os
import socket

import pytest

from vmm.core.errors import ConfigError
from vmm.plugins.virtio.console import ConsoleDevice
from vmm.plugins.virtio.net import NetDevice, parse_network
from vmm.plugins.virtio.rng import RngDevice

from .direct import Bench
from .guest import wait_for


def test_rng_fills_every_writable_buffer():
    bench = Bench(RngDevice())
    head, (first, second) = bench.rings[0].add([(100, True), (28, True)])
    assert bench.run() == [(head, 128)]
    assert bench.memory.read(first, 100) != bytes(100)
    assert bench.memory.read(second, 28) != bytes(28)
    bench.close()


def test_rng_gives_nothing_to_a_readable_only_chain():
    bench = Bench(RngDevice())
    head, (address,) = bench.rings[0].add([(b"\0" * 16, False)])
    assert bench.run() == [(head, 0)]
    assert bench.memory.read(address, 16) == bytes(16)
    bench.close()


def test_console_output_and_emergency_write():
    out: list[bytes] = []
    bench = Bench(ConsoleDevice(out.append))
    head, _ = bench.rings[1].add([(b"hello ", False), (b"hvc0\n", False)])
    assert bench.run(1) == [(head, 0)]
    bench.device.write_config(8, 4, ord("!"))  # emerg_wr
    assert out == [b"hello hvc0\n", b"!"]
    assert bench.device.read_config(4, 4) == 1  # max_nr_ports
    bench.close()


def test_console_input_reaches_the_receive_queue(monkeypatch):
    read_end, write_end = os.pipe()
    bench = Bench(ConsoleDevice(lambda data: None, read_end))
    ring = bench.rings[0]
    head, (address,) = ring.add([(64, True)])
    kicks = [os.eventfd(0, os.EFD_NONBLOCK) for _ in bench.device.queues]
    for queue in bench.device.queues:
        queue.ready = True
    bench.device.activate(bench.memory, bench.device.driver_features, kicks)
    os.write(write_end, b"ls\n")
    assert wait_for(ring.used) == [(head, 3)]
    assert bench.memory.read(address, 3) == b"ls\n"
    assert wait_for(lambda: bench.transport.used)
    bench.close()
    for fd in (*kicks, read_end, write_end):
        os.close(fd)


@pytest.fixture
def wire():
    """A packet socket pair: the device's end plays the TAP fd."""
    device_end, host_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    device_end.setblocking(False)
    yield device_end, host_end
    host_end.close()


def test_net_transmit_and_receive_frames(wire):
    device_end, host_end = wire
    mac = bytes.fromhex("020000000001")
    device = NetDevice(device_end.detach(), mac)
    bench = Bench(device)
    assert bytes(bench.device.read_config(i, 1) for i in range(6)) == mac
    rx, tx = bench.rings
    frame = bytes(12) + b"\xff" * 6 + mac + b"\x08\x00" + b"payload"
    tx.add([(frame[:12], False), (frame[12:], False)])
    bench.run(1)
    assert host_end.recv(2048) == frame
    head, (address,) = rx.add([(1526, True)])
    kicks = [os.eventfd(0, os.EFD_NONBLOCK) for _ in device.queues]
    for queue in device.queues:
        queue.ready = True
    device.activate(bench.memory, 0, kicks)
    incoming = bytes(12) + b"\x02" * 6 + b"\x04" * 6 + b"\x08\x06" + b"arp"
    host_end.send(incoming)
    assert wait_for(rx.used) == [(head, len(incoming))]
    received = bench.memory.read(address, len(incoming))
    assert received[10:12] == b"\x01\x00"  # num_buffers = 1
    assert received[12:] == incoming[12:]
    bench.close()
    for fd in kicks:
        os.close(fd)


def test_network_specs():
    spec = parse_network("mode=tap,tapif=vmmtap0,guest_mac=02:11:22:33:44:55")
    assert spec.tapif == "vmmtap0" and spec.mac == bytes.fromhex("021122334455")
    random_mac = parse_network("mode=tap,tapif=t").mac
    assert random_mac[0] & 2 and not random_mac[0] & 1
    for bad, message in [
        ("mode=vde", "choose mode=tap or mode=user"),
        ("mode=tap,tapif=a,guest_mac=zz", "six hex bytes"),
        ("mode=tap,guest_mac=01:00:00:00:00:01", "multicast"),
        ("tap", "expected mode=tap"),
        ("mode=tap,tapif=a,tapif=b", "tapif= is given twice"),
        ("mode=tap,guest_mac=02:00:00:00:00:01,guest_mac=02:00:00:00:00:02",
         "guest_mac= is given twice"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_network(bad)
