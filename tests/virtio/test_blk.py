"""virtio-blk on a raw image: read, write, flush, get-id, discard, read-only, bad requests."""

from __future__ import annotations

import fcntl
import os
import struct

import pytest

from vmm.core.errors import ConfigError, ImageError
from vmm.plugins.virtio.blk import BlockDevice, DiskSpec, parse_disk

from .direct import Bench

IN, OUT, FLUSH, GET_ID, DISCARD, WRITE_ZEROES = 0, 1, 4, 8, 11, 13
OK, IOERR, UNSUPP = 0, 1, 2
F_RO = 1 << 5


def header(kind: int, sector: int = 0) -> bytes:
    return struct.pack("<IIQ", kind, 0, sector)


@pytest.fixture
def bench_of(disk_image):
    benches = []

    def make(readonly: bool = False) -> Bench:
        bench = Bench(BlockDevice(DiskSpec(str(disk_image), readonly)))
        benches.append(bench)
        return bench

    yield make
    for bench in benches:
        bench.close()


def status(bench, address) -> int:
    return bench.memory.read(address, 1)[0]


def test_read_lands_in_guest_memory(bench_of):
    bench = bench_of()
    ring = bench.rings[0]
    head, (_, data, st) = ring.add([(header(IN, 5), False), (1024, True), (1, True)])
    assert bench.run() == [(head, 1025)]
    assert status(bench, st) == OK
    assert bench.memory.read(data, 10) == b"sector0005"
    assert bench.memory.read(data + 512, 10) == b"sector0006"
    assert bench.transport.used == [0]


def test_write_then_flush_is_in_the_file(bench_of, disk_image):
    bench = bench_of()
    ring = bench.rings[0]
    payload = b"A" * 512 + b"B" * 512
    ring.add([(header(OUT, 7), False), (payload[:300], False), (payload[300:], False), (1, True)])
    _, (_, st) = ring.add([(header(FLUSH), False), (1, True)])
    bench.run()
    assert status(bench, st) == OK
    assert disk_image.read_bytes()[7 * 512 : 9 * 512] == payload


def test_header_split_across_descriptors_is_understood(bench_of):
    bench = bench_of()
    raw = header(IN, 2)
    _, (_, _, data, st) = bench.rings[0].add(
        [(raw[:5], False), (raw[5:], False), (512, True), (1, True)])
    bench.run()
    assert status(bench, st) == OK and bench.memory.read(data, 10) == b"sector0002"


def test_get_id_and_unsupported_requests(bench_of, disk_image):
    bench = bench_of()
    ring = bench.rings[0]
    _, (_, ident, st1) = ring.add([(header(GET_ID), False), (20, True), (1, True)])
    _, (_, st2) = ring.add([(header(99), False), (1, True)])
    bench.run()
    assert status(bench, st1) == OK
    assert bench.memory.read(ident, 20).rstrip(b"\0") == disk_image.name.encode()
    assert status(bench, st2) == UNSUPP


@pytest.mark.parametrize(
    "request_buffers",
    [
        [(header(IN, 2047), False), (1024, True), (1, True)],  # runs past the end
        [(header(IN, 0), False), (100, True), (1, True)],  # not whole sectors
        [(header(IN, 0), False), (b"x" * 512, False), (1, True)],  # read into a read-only buffer
        [(header(OUT, 0), False), (512, True), (1, True)],  # write data the device may not read
        [(b"short", False), (1, True)],  # header too short
    ],
)
def test_bad_requests_fail_with_ioerr_and_the_queue_goes_on(bench_of, disk_image, request_buffers):
    before = disk_image.read_bytes()
    bench = bench_of()
    ring = bench.rings[0]
    _, addresses = ring.add(request_buffers)
    _, (_, good, good_st) = ring.add([(header(IN, 1), False), (512, True), (1, True)])
    bench.run()
    assert status(bench, addresses[-1]) == IOERR
    assert status(bench, good_st) == OK and bench.memory.read(good, 10) == b"sector0001"
    assert disk_image.read_bytes() == before


def test_readonly_disk_is_opened_rdonly_and_refuses_writes(bench_of, disk_image):
    before = disk_image.read_bytes()
    bench = bench_of(readonly=True)
    device = bench.device
    assert fcntl.fcntl(device.fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY
    assert device.features & F_RO
    ring = bench.rings[0]
    _, (_, _, st1) = ring.add([(header(OUT, 0), False), (b"Z" * 512, False), (1, True)])
    _, (_, _, st2) = ring.add([(header(DISCARD), False), (struct.pack("<QII", 0, 8, 0), False),
                               (1, True)])
    _, (_, data, st3) = ring.add([(header(IN, 0), False), (512, True), (1, True)])
    bench.run()
    assert (status(bench, st1), status(bench, st2), status(bench, st3)) == (IOERR, IOERR, OK)
    assert bench.memory.read(data, 10) == b"sector0000"
    bench.close()
    assert disk_image.read_bytes() == before


def test_discard_and_write_zeroes_read_back_as_zeros(bench_of, disk_image):
    bench = bench_of()
    ring = bench.rings[0]
    _, (_, _, st1) = ring.add([(header(DISCARD), False), (struct.pack("<QII", 8, 8, 0), False),
                               (1, True)])
    _, (_, _, st2) = ring.add([(header(WRITE_ZEROES), False),
                               (struct.pack("<QII", 20, 1, 0), False), (1, True)])
    _, (_, _, st3) = ring.add([(header(DISCARD), False),
                               (struct.pack("<QII", 2047, 2, 0), False), (1, True)])
    bench.run()
    assert (status(bench, st1), status(bench, st2), status(bench, st3)) == (OK, OK, IOERR)
    data = disk_image.read_bytes()
    assert data[8 * 512 : 16 * 512] == bytes(8 * 512)
    assert data[20 * 512 : 21 * 512] == bytes(512)
    assert data[16 * 512 : 16 * 512 + 10] == b"sector0016"


def test_close_fsyncs_and_closes_the_image(bench_of, monkeypatch):
    bench = bench_of()
    fd = bench.device.fd
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda f: (synced.append(f), real_fsync(f)))
    bench.device.close()
    assert synced == [fd] and bench.device.fd is None
    with pytest.raises(OSError):
        os.fstat(fd)


@pytest.mark.parametrize("failing", ["fsync", "close"])
def test_a_failed_fsync_or_close_says_the_disk_may_be_incomplete(bench_of, monkeypatch,
                                                                 disk_image, failing):
    import errno

    bench = bench_of()
    fd = bench.device.fd
    real_close = os.close

    def fail(descriptor):
        if failing == "close":
            real_close(descriptor)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, failing, fail)
    with pytest.raises(ImageError) as failed:
        bench.device.close()
    monkeypatch.undo()
    assert str(failed.value) == (f"disk {str(disk_image)!r} may be incomplete: "
                                 "No space left on device (ENOSPC)")
    with pytest.raises(OSError):  # closed all the same
        os.fstat(fd)


def test_disk_specs(tmp_path, disk_image, monkeypatch):
    assert parse_disk(f"{disk_image},ro") == DiskSpec(str(disk_image), True)
    with pytest.raises(ConfigError, match="expected FILE or FILE,ro"):
        parse_disk(f"{disk_image},direct")
    with pytest.raises(ConfigError, match="does not exist"):
        parse_disk(str(tmp_path / "missing.img"))
    monkeypatch.setattr(os, "access", lambda path, mode: not mode & os.W_OK)  # a read-only file
    with pytest.raises(ConfigError, match="add ,ro"):
        parse_disk(str(disk_image))
    assert parse_disk(f"{disk_image},ro").readonly


@pytest.mark.parametrize(
    "kind, segments, expected",
    [
        (DISCARD, [(8, 8, 0), (2047, 2, 0)], IOERR),  # the second runs past the end
        (WRITE_ZEROES, [(8, 8, 0), (20, 1, 0), (4096, 1, 0)], IOERR),
        (DISCARD, [(8, 8, 0), (20, 1, 1)], UNSUPP),  # unmap flag on a discard
        (WRITE_ZEROES, [(8, 8, 0), (20, (1 << 30) // 512 + 1, 0)], IOERR),  # too long
    ],
)
def test_a_bad_later_segment_leaves_every_segment_untouched(bench_of, disk_image, kind,
                                                            segments, expected):
    """Every segment is checked before the image is touched (before, the first
    segments were zeroed and then the request failed)."""
    before = disk_image.read_bytes()
    bench = bench_of()
    payload = b"".join(struct.pack("<QII", *segment) for segment in segments)
    _, (_, _, st) = bench.rings[0].add([(header(kind), False), (payload, False), (1, True)])
    bench.run()
    assert status(bench, st) == expected
    assert disk_image.read_bytes() == before


def test_every_segment_of_a_good_multi_segment_request_is_zeroed(bench_of, disk_image):
    bench = bench_of()
    payload = struct.pack("<QII", 3, 2, 0) + struct.pack("<QII", 100, 1, 1)
    _, (_, _, st) = bench.rings[0].add([(header(WRITE_ZEROES), False), (payload, False),
                                        (1, True)])
    bench.run()
    data = disk_image.read_bytes()
    assert status(bench, st) == OK
    assert data[3 * 512 : 5 * 512] == bytes(1024) and data[100 * 512 : 101 * 512] == bytes(512)
    assert data[5 * 512 : 5 * 512 + 10] == b"sector0005"
