"""User-mode networking: ``--network mode=user`` specs, the stream framing of
:class:`StreamWire`, and a real passt answering the card's ARP."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from vmm.core.errors import ConfigError
from vmm.core.testing import skip_or_fail
from vmm.plugins.virtio.net import NetDevice, parse_network
from vmm.plugins.virtio.netwire import HEADER_SIZE, STREAM_HEADER, StreamWire

from .direct import Bench
from .guest import wait_for

MAC = bytes.fromhex("020000000001")
GUEST_IP, HOST_IP = "10.0.2.15", "10.0.2.2"


def test_user_mode_specs():
    spec = parse_network("mode=user")
    assert spec.mode == "user" and spec.guest_ip == "" and spec.host_ip == ""
    spec = parse_network(f"mode=user,guest_ip={GUEST_IP},host_ip={HOST_IP},guest_mac=02:00:00:00:00:09")
    assert (spec.guest_ip, spec.host_ip, spec.mac) == (GUEST_IP, HOST_IP, bytes.fromhex("020000000009"))
    assert parse_network("tapif=t").mode == "tap"
    for bad, message in [
        ("mode=user,tapif=vmmtap0", "tapif= does not apply to mode=user"),
        ("mode=tap,guest_ip=10.0.2.15", "guest_ip= does not apply to mode=tap"),
        ("mode=user,guest_ip=10.0.2", "expected an IPv4 address"),
        ("mode=slirp", "choose mode=tap or mode=user"),
        ("mode=user,host_ip=1.2.3.4,host_ip=1.2.3.5", "host_ip= is given twice"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_network(bad)


def frame(destination: bytes, source: bytes, ethertype: int, payload: bytes) -> bytes:
    return destination + source + ethertype.to_bytes(2, "big") + payload


def framed(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


@pytest.fixture
def stream():
    """A stream socket pair: the card's end is a StreamWire, the other plays passt."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    ours.setblocking(False)
    yield StreamWire(ours.detach()), theirs
    theirs.close()


def used_count(ring, count: int) -> list[tuple[int, int]]:
    """Wait until the device returned ``count`` receive chains; their (head, size)."""
    seen: list[tuple[int, int]] = []
    wait_for(lambda: seen.extend(ring.used()) or len(seen) >= count)
    return seen


def started(bench: Bench) -> list[int]:
    kicks = [os.eventfd(0, os.EFD_NONBLOCK) for _ in bench.device.queues]
    for queue in bench.device.queues:
        queue.ready = True
    bench.device.activate(bench.memory, 0, kicks)
    return kicks


def test_stream_frames_both_ways(stream):
    wire, peer = stream
    bench = Bench(NetDevice(wire, MAC))
    rx, tx = bench.rings
    outgoing = frame(b"\xff" * 6, MAC, 0x0806, b"who-has")
    tx.add([(bytes(HEADER_SIZE) + outgoing[:5], False), (outgoing[5:], False)])
    bench.run(1)
    assert peer.recv(4096) == framed(outgoing)  # no virtio-net header on the wire
    heads = [rx.add([(128, True)]) for _ in range(3)]
    kicks = started(bench)
    first = frame(MAC, b"\x02" * 6, 0x0806, b"is-at")
    second = frame(MAC, b"\x02" * 6, 0x0800, b"x" * 40)
    both = framed(first) + framed(second)
    peer.sendall(both[:3])  # frames split anywhere, even inside a length
    time.sleep(0.05)
    peer.sendall(both[3:])
    used = used_count(rx, 2)
    assert [size for _, size in used] == [HEADER_SIZE + len(first), HEADER_SIZE + len(second)]
    for (_head, (address,)), data in zip(heads, (first, second), strict=False):
        assert bench.memory.read(address, HEADER_SIZE + len(data)) == STREAM_HEADER + data
    bench.close()
    for fd in kicks:
        os.close(fd)


def test_frames_wait_for_receive_buffers(stream):
    wire, peer = stream
    bench = Bench(NetDevice(wire, MAC))
    rx, _ = bench.rings
    kicks = started(bench)
    data = frame(MAC, b"\x02" * 6, 0x0800, b"early")
    peer.sendall(framed(data) * 2)
    time.sleep(0.1)  # read while no buffer was posted: nothing may be lost
    rx.add([(64, True)])
    rx.add([(64, True)])
    bench.device.process(bench.device.queues[0])
    assert [size for _, size in used_count(rx, 2)] == [HEADER_SIZE + len(data)] * 2
    bench.close()
    for fd in kicks:
        os.close(fd)


def test_an_oversized_frame_cuts_the_card_off(stream, caplog):
    wire, peer = stream
    bench = Bench(NetDevice(wire, MAC))
    rx, _ = bench.rings
    rx.add([(64, True)])
    kicks = started(bench)
    peer.sendall((1 << 20).to_bytes(4, "big") + b"junk")
    wait_for(lambda: wire.closed)
    wait_for(lambda: "the card is cut off" in caplog.text)
    assert rx.used() == []
    bench.close()
    for fd in kicks:
        os.close(fd)


# ---------------------------------------------------------------------- real passt


@pytest.fixture
def passt():
    if shutil.which("passt") is None:
        skip_or_fail("passt is not installed (apt-get install passt; make test installs it)")
    from vmm.plugins.virtio import passt as module

    return module


def arp_request(sender_ip: str, target_ip: str) -> bytes:
    body = (bytes.fromhex("0001 0800 06 04 0001") + MAC + socket.inet_aton(sender_ip)
            + bytes(6) + socket.inet_aton(target_ip))
    return frame(b"\xff" * 6, MAC, 0x0806, body)


def test_passt_answers_arp_and_quits_with_the_card(passt):
    wire = passt.start_passt(GUEST_IP, HOST_IP)
    process = wire.process
    bench = Bench(NetDevice(wire, MAC))
    rx, tx = bench.rings
    head, (address,) = rx.add([(1526, True)])
    kicks = started(bench)
    tx.add([(bytes(HEADER_SIZE) + arp_request(GUEST_IP, HOST_IP), False)])
    os.eventfd_write(kicks[1], 1)
    ((used_head, size),) = wait_for(rx.used)
    reply = bench.memory.read(address, size)[HEADER_SIZE:]
    assert used_head == head
    assert reply[12:14] == b"\x08\x06" and reply[20:22] == b"\x00\x02"  # ARP reply
    assert reply[28:32] == socket.inet_aton(HOST_IP)  # sender: the gateway
    assert reply[:6] == MAC
    bench.close()
    for fd in kicks:
        os.close(fd)
    assert process.returncode == 0  # quit by itself on the closed socket, and reaped


def test_passt_quits_when_vmm_is_killed(passt, tmp_path):
    script = ("import sys, time\nfrom vmm.plugins.virtio.passt import start_passt\n"
              "wire = start_passt()\nprint(wire.process.pid, flush=True)\ntime.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        pid = int(child.stdout.readline())
        child.send_signal(signal.SIGKILL)
        child.wait()
        wait_for(lambda: not running(pid))
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (an orphan's reaping is init's job)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_missing_passt_is_a_one_line_error(monkeypatch):
    from vmm.plugins.virtio.passt import start_passt

    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ConfigError, match="needs passt.*apt-get install passt"):
        start_passt()


def processes_with_environment(marker: str) -> list[int]:
    """Live (non-zombie) processes whose environment holds ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as environ:
                    if marker.encode() in environ.read() and running(int(entry)):
                        found.append(int(entry))
            except OSError:
                continue
    return found


def test_vmm_run_on_real_kvm_starts_and_ends_passt(require_kvm, passt):
    """The built-in guest runs sandboxed with a mode=user card; passt, which inherits
    the marked environment, is gone when vmm exits."""
    marker = f"VMM_PASST_TEST={os.getpid()}-{time.monotonic_ns()}"
    name, value = marker.split("=")
    process = subprocess.run(
        [sys.executable, "-m", "vmm", "run", "--arch", "x86", "--sandbox", "--debug",
         "-n", "mode=user"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        env={**os.environ, name: value},
    )
    assert process.returncode == 0, process.stderr
    assert "ERROR" not in process.stderr and "WARNING" not in process.stderr, process.stderr
    started = re.search(r"passt \(pid (\d+)\) is ready", process.stderr)
    assert started, process.stderr
    assert not running(int(started.group(1)))
    assert processes_with_environment(marker) == []
