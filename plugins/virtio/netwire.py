"""The wires a virtio-net card sends frames on: a TAP fd, or a stream of frames.

A wire moves whole frames between the card's queues and its backend:

- ``fd``: what the card's I/O thread watches for incoming frames;
- ``send(chain_buffers)``: one frame from a transmit chain, virtio-net header first;
- ``receive_into(chain_buffers)``: the next frame into a receive chain, header
  included, returning its size (None when no frame is waiting);
- ``pending``: a whole frame is already buffered (so waiting on ``fd`` would stall).

:class:`PacketWire` is a TAP (or any packet socket): one read or write per frame,
the virtio-net header passed as it is. :class:`StreamWire` is the framing QEMU's
``-netdev stream``/``socket`` and passt use on a stream socket: each Ethernet frame
preceded by its length, 32 bits big endian, with no virtio-net header on the wire.
"""

from __future__ import annotations

import logging
import os

from . import buffers
from .cdefs import offsetof, sizeof

log = logging.getLogger(__name__)

HEADER_SIZE = sizeof("struct virtio_net_hdr_v1")
NUM_BUFFERS = offsetof("struct virtio_net_hdr_v1", "num_buffers")
#: The receive header a stream's frames get: no offloads, one buffer.
STREAM_HEADER = bytes(NUM_BUFFERS) + (1).to_bytes(HEADER_SIZE - NUM_BUFFERS, "little")
LENGTH_SIZE = 4
#: The largest frame a stream may announce: 64 KiB (passt's MTU is 65520).
MAX_STREAM_FRAME = 1 << 16
READ_CHUNK = 1 << 18


class WireClosed(Exception):
    """The backend hung up or broke the framing: the wire is dead."""


class PacketWire:
    """A TAP fd (virtio-net header enabled) or any packet fd: a frame per read/write."""

    pending = False

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.closed = False

    def send(self, chain: list[memoryview]) -> None:
        try:
            os.writev(self.fd, chain)
        except BlockingIOError:
            log.debug("virtio-net: TAP queue full, frame dropped")
        except OSError as error:
            log.debug("virtio-net: frame dropped (%s)", error.strerror)

    def receive_into(self, chain: list[memoryview]) -> int | None:
        try:
            return os.readv(self.fd, chain)
        except BlockingIOError:
            return None

    def close(self) -> None:
        self.closed = True
        os.close(self.fd)


class StreamWire:
    """Length-prefixed Ethernet frames on a non-blocking stream socket."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._incoming = bytearray()
        #: The unsent tail of a frame the socket took only part of.
        self._backlog = b""
        self.closed = False

    # ------------------------------------------------------------------ sending

    def send(self, chain: list[memoryview]) -> None:
        if self.closed or not self._flush():
            log.debug("virtio-net: stream busy or closed, frame dropped")
            return
        _, frame = buffers.split(chain, HEADER_SIZE)
        size = buffers.total(frame)
        if size == 0 or size > MAX_STREAM_FRAME:
            return
        parts: list[bytes | memoryview] = [size.to_bytes(LENGTH_SIZE, "big"), *frame]
        try:
            written = os.writev(self.fd, parts)
        except BlockingIOError:
            return  # nothing went out: the frame is dropped whole
        except OSError as error:
            log.debug("virtio-net: stream write failed (%s)", error.strerror)
            self.closed = True
            return
        if written < LENGTH_SIZE + size:  # keep the stream framed: finish it later
            self._backlog = b"".join(parts)[written:]

    def _flush(self) -> bool:
        """Send what is left of a partly sent frame; True once nothing is left."""
        while self._backlog:
            try:
                written = os.write(self.fd, self._backlog)
            except BlockingIOError:
                return False
            except OSError:
                self.closed = True
                return False
            self._backlog = self._backlog[written:]
        return True

    # ------------------------------------------------------------------ receiving

    @property
    def pending(self) -> bool:
        if self.closed:
            return False
        try:
            return self._frame_end() is not None
        except WireClosed:
            return True  # receive_into reports it

    def _frame_end(self) -> int | None:
        if len(self._incoming) < LENGTH_SIZE:
            return None
        size = int.from_bytes(self._incoming[:LENGTH_SIZE], "big")
        if size > MAX_STREAM_FRAME:
            self.closed = True
            raise WireClosed(f"the stream announced a {size}-byte frame (at most "
                             f"{MAX_STREAM_FRAME})")
        end = LENGTH_SIZE + size
        return end if len(self._incoming) >= end else None

    def _read_more(self) -> bool:
        """Read what the socket has; False when nothing was there."""
        try:
            data = os.read(self.fd, READ_CHUNK)
        except BlockingIOError:
            return False
        except OSError as error:
            self.closed = True
            raise WireClosed(f"the stream failed: {error.strerror}") from None
        if not data:
            self.closed = True
            raise WireClosed("the other end closed the stream")
        self._incoming += data
        return True

    def receive_into(self, chain: list[memoryview]) -> int | None:
        """The next whole frame, after :data:`STREAM_HEADER`, into ``chain``; frames
        longer than the chain are cut short, as TUN does."""
        end = self._frame_end()
        while end is None:
            if self.closed or not self._read_more():
                return None
            end = self._frame_end()
        frame = memoryview(self._incoming)[LENGTH_SIZE:end]
        try:
            written = buffers.scatter(chain, STREAM_HEADER)
            _, rest = buffers.split(chain, written)
            written += buffers.scatter(rest, frame)
        finally:
            frame.release()
        del self._incoming[:end]
        return written

    def close(self) -> None:
        self.closed = True
        os.close(self.fd)
