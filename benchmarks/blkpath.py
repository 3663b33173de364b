"""``python -m benchmarks.blkpath``: the Python share of one virtio-blk request.

The largest request (254 pages of the 1 MiB that Linux splits in two) the way Linux's
virtio-blk driver sends it (an indirect table: the 16-byte header, one descriptor per 4
KiB page of data, the status byte), served by the plugin's ``BlockDevice`` from a queue
in a buffer of guest memory: pop, walk, ``preadv``/``pwritev`` on the image, push. The
same system call with the same buffers, made directly, is the floor; the difference is
what vmm's Python adds per request. No KVM, no guest, far less noise than the in-guest
figures of ``python -m benchmarks --only blk``. ``--profile`` shows where the time goes.
"""

from __future__ import annotations

import os
import statistics
import struct
import sys
import tempfile

from vmm.core.memory import GuestMemory
from vmm.plugins.virtio.blk import BlockDevice, DiskSpec

from . import microbench

RAM_START = 0x10_0000
RAM_SIZE = 16 << 20
PAGE = 4096
QUEUE_SIZE = 256
#: Data descriptors of the largest request (the device offers seg_max = queue size - 2;
#: Linux splits a 1 MiB request of scattered pages into 254 pages + 2 pages)
SEG_MAX = QUEUE_SIZE - 2
DESC = struct.Struct("<QIHH")  # addr, len, flags, next (restated, as the tests do)
HEADER = struct.Struct("<IIQ")  # type, reserved, sector
F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4
T_IN, T_OUT = 0, 1
#: Where the rings, the indirect table, the header and status, and the data live.
DESC_TABLE, AVAIL, USED = RAM_START, RAM_START + 0x1000, RAM_START + 0x2000
INDIRECT, HEADER_AT, STATUS_AT = RAM_START + 0x3000, RAM_START + 0x4000, RAM_START + 0x4010
DATA = RAM_START + 0x10_0000


class NoTransport:
    """Accepts the device's interrupt requests (nothing to signal here)."""

    def signal_used(self, queue: object) -> None:
        pass

    def needs_reset(self, reason: str) -> None:
        raise RuntimeError(f"the device asked for a reset: {reason}")


class RequestBench:
    """One block device and one queue holding one prepared request."""

    def __init__(self, image: str, kind: int, pages: int) -> None:
        self.memory = GuestMemory()
        self.memory.add(RAM_START, RAM_SIZE)
        self.device = BlockDevice(DiskSpec(image))
        self.device.transport = NoTransport()
        queue = self.queue = self.device.queues[0]
        queue.size = QUEUE_SIZE
        queue.desc_addr, queue.avail_addr, queue.used_addr = DESC_TABLE, AVAIL, USED
        queue.ready = True
        queue.activate(self.memory, event_idx=False, indirect=True)
        data_flag = F_WRITE if kind == T_IN else 0
        entries = [(HEADER_AT, HEADER.size, F_NEXT)]
        # Every other page, as a guest's page cache scatters a request's pages.
        entries += [(DATA + 2 * PAGE * page, PAGE, data_flag | F_NEXT) for page in range(pages)]
        entries.append((STATUS_AT, 1, F_WRITE))
        for index, (address, length, flags) in enumerate(entries):
            self.memory.write(INDIRECT + DESC.size * index,
                              DESC.pack(address, length, flags, index + 1))
        self.memory.write(DESC_TABLE, DESC.pack(INDIRECT, DESC.size * len(entries), F_INDIRECT, 0))
        self.memory.write(HEADER_AT, HEADER.pack(kind, 0, 0))
        self.buffers = [self.memory.view(address, length) for address, length, _ in entries[1:-1]]
        self.kind = kind
        self.avail_idx = 0

    def serve_one(self) -> None:
        """Publish the request and let the device serve it, as its I/O thread would."""
        slot = AVAIL + 4 + 2 * (self.avail_idx % QUEUE_SIZE)
        self.memory.write_u(slot, 2, 0)
        self.avail_idx = (self.avail_idx + 1) & 0xFFFF
        self.memory.write_u(AVAIL + 2, 2, self.avail_idx)
        self.device.process(self.queue)

    def syscall_only(self) -> None:
        """The floor: the same system call on the same buffers."""
        fd = self.device.fd
        if self.kind == T_IN:
            os.preadv(fd, self.buffers, 0)
        else:
            os.pwritev(fd, self.buffers, 0)

    def close(self) -> None:
        self.device.close()
        self.memory.close()


def main(argv: list[str] | None = None) -> int:
    args = microbench.parser("python -m benchmarks.blkpath", __doc__, "requests", 2000,
                             "requests per sample").parse_args(argv)
    with tempfile.NamedTemporaryFile(prefix="vmm-blkpath-", dir="/var/tmp") as image:
        image.truncate(4 << 20)
        for name, kind, pages in (("read 254 pages", T_IN, SEG_MAX), ("write 254 pages", T_OUT, SEG_MAX),
                                  ("read 4 KiB", T_IN, 1)):
            bench = RequestBench(image.name, kind, pages)
            try:
                if args.profile:
                    microbench.print_profile(name, bench.serve_one, args.requests)
                    continue
                served = [microbench.per_call(bench.serve_one, args.requests)
                          for _ in range(args.samples)]
                floor = [microbench.per_call(bench.syscall_only, args.requests)
                         for _ in range(args.samples)]
                share = statistics.median(served) - statistics.median(floor)
                print(f"{name:15s} us per request: served {statistics.median(served):8.1f}  "
                      f"system call alone {statistics.median(floor):8.1f}  "
                      f"Python share {share:7.1f}")
            finally:
                bench.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
