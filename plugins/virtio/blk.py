"""virtio-blk (virtio 1.2, 5.2) over a raw image file.

Reads and writes go straight between the image and guest memory with
``os.preadv``/``os.pwritev`` on views of guest RAM (no copies). A request completes
only after the system call returned, so a write the driver saw completed is in the
file (the page cache) from then on; FLUSH is ``fdatasync``, and closing the device at
VM exit fsyncs the image. A read-only disk (``,ro``) is opened ``O_RDONLY``, offers
VIRTIO_BLK_F_RO and answers writes, discards and write-zeroes with IOERR. While the
device exists its image holds an OFD lock (shared for ``,ro``, else exclusive), so
no other VM writes it meanwhile (:mod:`vmm.core.filelock`).
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from dataclasses import dataclass

from vmm.core.errors import ConfigError, ImageError
from vmm.core.filelock import lock_file
from vmm.core.kvm.ffiload import load_ffi

from . import buffers
from .cdefs import ffi, sizeof
from .constants import DEVICE_ID_BLOCK
from .device import VirtioDevice
from .queue import Chain, Virtqueue

log = logging.getLogger(__name__)

SECTOR_SIZE = 512
QUEUE_SIZE = 256
ID_BYTES = 20  # VIRTIO_BLK_ID_BYTES

# Feature bits (5.2.3).
F_SEG_MAX = 2
F_RO = 5
F_BLK_SIZE = 6
F_FLUSH = 9
F_DISCARD = 13
F_WRITE_ZEROES = 14

# Request types and status values (5.2.6).
T_IN = 0
T_OUT = 1
T_FLUSH = 4
T_GET_ID = 8
T_DISCARD = 11
T_WRITE_ZEROES = 13
S_OK = 0
S_IOERR = 1
S_UNSUPP = 2

HEADER = "struct virtio_blk_outhdr"
HEADER_SIZE = sizeof(HEADER)
SEGMENT = "struct virtio_blk_discard_write_zeroes"
SEGMENT_SIZE = sizeof(SEGMENT)
WRITE_ZEROES_UNMAP = 1
MAX_DISCARD_SEGMENTS = 32
#: Largest discard or write-zeroes request, in sectors (1 GiB).
MAX_DISCARD_SECTORS = (1 << 30) // SECTOR_SIZE
ZERO_CHUNK = memoryview(bytes(1 << 20))

# fallocate(2) modes (linux/falloc.h).
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02

_libc_ffi = load_ffi("libc_fallocate", "int fallocate(int fd, int mode, int64_t offset, int64_t len);")
_libc = _libc_ffi.dlopen(None)


@dataclass(frozen=True)
class DiskSpec:
    """One ``--disk FILE[,ro]``."""

    path: str
    readonly: bool = False


def file_identity(path: str) -> tuple[int, int]:
    """What makes two paths the same file: (st_dev, st_ino)."""
    info = os.stat(path)
    return info.st_dev, info.st_ino


def parse_disk(text: str) -> DiskSpec:
    """Parse ``FILE[,ro]``; refuse unknown flags and files that can't be used."""
    path, *flags = text.split(",")
    unknown = [flag for flag in flags if flag != "ro"]
    if not path or unknown:
        raise ConfigError(f"--disk {text!r}: expected FILE or FILE,ro")
    spec = DiskSpec(path, "ro" in flags)
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = 0
    if not (stat.S_ISREG(mode) or stat.S_ISBLK(mode)):
        raise ConfigError(
            f"disk image {path!r} does not exist or is not a file or block device (check --disk)"
        )
    access = os.R_OK if spec.readonly else os.R_OK | os.W_OK
    if not os.access(path, access):
        need = "readable" if spec.readonly else "readable and writable (or add ,ro)"
        raise ConfigError(f"disk image {path!r} is not {need}")
    return spec


class BlockDevice(VirtioDevice):
    """A virtio block device backed by one raw image file."""

    device_id = DEVICE_ID_BLOCK
    name = "blk"
    queue_sizes = (QUEUE_SIZE,)
    config_type = "struct virtio_blk_config"
    pci_class = (0x01, 0x80, 0x00)  # mass storage, other

    def __init__(self, spec: DiskSpec, *, dry_run: bool = False) -> None:
        """Open and lock the image.

        :param dry_run: open it read-only and only check that the lock could be
            taken: a dry run leaves the file as it was (writes then fail with IOERR).
        """
        super().__init__()
        self.spec = spec
        self.writable = not (spec.readonly or dry_run)
        flags = (os.O_RDWR if self.writable else os.O_RDONLY) | os.O_CLOEXEC
        try:
            self.fd: int | None = os.open(spec.path, flags)
        except OSError as error:
            raise ConfigError(f"can't open disk image {spec.path!r}: {error.strerror}") from None
        try:
            lock_file(self.fd, spec.path, "disk image", shared=spec.readonly, probe=dry_run)
        except BaseException:
            os.close(self.fd)
            raise
        self.size = os.lseek(self.fd, 0, os.SEEK_END)  # st_size is 0 for block devices
        self.sectors = self.size // SECTOR_SIZE
        self.serial = os.path.basename(spec.path).encode()[:ID_BYTES]
        config = self.config
        config.capacity = self.sectors
        config.seg_max = QUEUE_SIZE - 2  # header and status take a descriptor each
        config.blk_size = SECTOR_SIZE
        config.num_queues = 1
        if not spec.readonly:
            config.max_discard_sectors = MAX_DISCARD_SECTORS
            config.max_discard_seg = MAX_DISCARD_SEGMENTS
            config.discard_sector_alignment = 1
            config.max_write_zeroes_sectors = MAX_DISCARD_SECTORS
            config.max_write_zeroes_seg = MAX_DISCARD_SEGMENTS
            config.write_zeroes_may_unmap = 1

    @property
    def features(self) -> int:
        bits = (1 << F_SEG_MAX) | (1 << F_BLK_SIZE) | (1 << F_FLUSH)
        if self.spec.readonly:
            return bits | (1 << F_RO)
        return bits | (1 << F_DISCARD) | (1 << F_WRITE_ZEROES)

    # ------------------------------------------------------------ requests

    def handle(self, queue: Virtqueue, chain: Chain) -> int:
        """Serve one request; return the bytes written (data in, plus the status)."""
        data_out, status_views = buffers.split_end(chain.writable, 1)
        if not status_views:
            log.warning("virtio-blk: request without a writable status byte")
            return 0
        status = status_views[-1]
        header = buffers.gather(chain.readable, HEADER_SIZE)
        if header is None:
            status[0] = S_IOERR
            return 1
        fields = ffi.from_buffer(f"{HEADER} *", header)
        kind, sector = fields.type, fields.sector
        _, payload = buffers.split(chain.readable, HEADER_SIZE)
        try:
            code, written = self._dispatch(kind, sector, payload, data_out)
        except OSError as error:
            log.warning("virtio-blk %s: %s", self.spec.path, error.strerror)
            code, written = S_IOERR, 0
        status[0] = code
        return written + 1

    def _dispatch(
        self, kind: int, sector: int, payload: list[memoryview], data_in: list[memoryview]
    ) -> tuple[int, int]:
        if kind == T_IN:
            return self._read(sector, payload, data_in)
        if kind == T_OUT:
            return self._write(sector, payload, data_in)
        if kind == T_FLUSH:
            if self.fd is not None and self.writable:
                os.fdatasync(self.fd)
            return S_OK, 0
        if kind == T_GET_ID:
            return S_OK, buffers.scatter(data_in, self.serial.ljust(ID_BYTES, b"\0"))
        if kind in (T_DISCARD, T_WRITE_ZEROES):
            return self._discard(kind, payload, data_in), 0
        return S_UNSUPP, 0

    def _in_range(self, sector: int, length: int) -> bool:
        return length % SECTOR_SIZE == 0 and sector * SECTOR_SIZE + length <= self.size

    def _read(
        self, sector: int, payload: list[memoryview], data_in: list[memoryview]
    ) -> tuple[int, int]:
        length = buffers.total(data_in)
        if payload or not self._in_range(sector, length) or self.fd is None:
            return S_IOERR, 0  # data in readable buffers, a partial sector, or past the end
        done = os.preadv(self.fd, data_in, sector * SECTOR_SIZE) if data_in else 0
        if done < length:  # the file shrank under us: the rest reads as zeros
            buffers.scatter(buffers.split(data_in, done)[1], bytes(length - done))
        return S_OK, length

    def _write(
        self, sector: int, payload: list[memoryview], data_in: list[memoryview]
    ) -> tuple[int, int]:
        length = buffers.total(payload)
        if not self.writable or data_in or not self._in_range(sector, length):
            return S_IOERR, 0
        offset = sector * SECTOR_SIZE
        while payload and self.fd is not None:
            done = os.pwritev(self.fd, payload, offset)
            if done == length:  # the usual case: all of it at once
                break
            offset += done
            length -= done
            payload = buffers.split(payload, done)[1]
        return S_OK, 0

    def _discard(self, kind: int, payload: list[memoryview], data_in: list[memoryview]) -> int:
        """DISCARD or WRITE_ZEROES over one or more segments: every segment is checked
        before the first is applied, so a bad request changes nothing."""
        if not self.writable or data_in or self.fd is None:
            return S_IOERR
        data = b"".join(payload)
        if not data or len(data) % SEGMENT_SIZE or len(data) // SEGMENT_SIZE > MAX_DISCARD_SEGMENTS:
            return S_IOERR
        ranges: list[tuple[int, int, bool]] = []
        for segment in ffi.from_buffer(f"{SEGMENT}[]", data):
            sector, count, flags = segment.sector, segment.num_sectors, segment.flags
            if count > MAX_DISCARD_SECTORS or not self._in_range(sector, count * SECTOR_SIZE):
                return S_IOERR
            if kind == T_DISCARD and flags:
                return S_UNSUPP
            punch = kind == T_DISCARD or bool(flags & WRITE_ZEROES_UNMAP)
            ranges.append((sector * SECTOR_SIZE, count * SECTOR_SIZE, punch))
        for offset, length, punch in ranges:
            self._zero(offset, length, punch=punch)
        return S_OK

    def _zero(self, offset: int, length: int, *, punch: bool) -> None:
        """Deallocate (punch a hole) or write zeros; holes read back as zeros."""
        assert self.fd is not None
        if punch and length:
            mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
            if _libc.fallocate(self.fd, mode, offset, length) == 0:
                return
            code = _libc_ffi.errno
            if code not in (errno.EOPNOTSUPP, errno.ENOSYS):
                raise OSError(code, os.strerror(code))
        while length:
            count = min(length, len(ZERO_CHUNK))
            done = os.pwrite(self.fd, ZERO_CHUNK[:count], offset)
            offset += done
            length -= done

    # ------------------------------------------------------------ teardown

    def close(self) -> None:
        """Finish the request in progress, then fsync and close the image.

        :raises ImageError: the fsync or the close failed, so writes the guest saw
            completed may not be in the file.
        """
        super().close()
        fd, self.fd = self.fd, None
        if fd is None:
            return
        failure: OSError | None = None
        try:
            if self.writable:
                os.fsync(fd)
        except OSError as error:
            failure = error
        try:
            os.close(fd)
        except OSError as error:
            failure = failure or error
        if failure is not None:
            name = errno.errorcode.get(failure.errno or 0, str(failure.errno))
            raise ImageError(
                f"disk {self.spec.path!r} may be incomplete: {failure.strerror} ({name})")
