"""Run one VMM process and time it: to the guest's marker, to its exit, peak RSS.

The clock starts just before the process is spawned. Output is read as it comes
(both pipes, without blocking), each chunk stamped, so the time the marker's first
byte arrived is known. ``os.wait4`` gives this child's own peak RSS, not the maximum
over every child the suite ran.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import BenchError

READ_SIZE = 65536


@dataclass(frozen=True)
class Run:
    """What one process did."""

    #: Seconds from spawn to the first byte of the marker (None: never printed).
    to_marker: float | None
    #: Seconds from spawn to the process's exit.
    to_exit: float
    #: CPU time (user + system) the process used, in seconds: unlike wall time,
    #: it hardly depends on what else the machine is running.
    cpu: float
    #: Peak resident set size in bytes.
    max_rss: int
    #: Exit status (negative: killed by that signal).
    status: int
    stdout: bytes
    stderr: bytes
    #: ``(arrival time, stdout length after it)`` for each chunk read, in order.
    chunks: tuple[tuple[float, int], ...] = ()

    def stamped_lines(self) -> list[tuple[float, str]]:
        """Each stdout line with the seconds from spawn to the arrival of its first byte."""
        lines = []
        offset = 0
        for line in self.stdout.split(b"\n"):
            if line:
                lines.append((_marker_time(self.chunks, offset),
                              line.decode(errors="replace").rstrip("\r")))
            offset += len(line) + 1
        return lines


def _marker_time(chunks: Sequence[tuple[float, int]], marker_offset: int) -> float:
    """When the chunk holding byte ``marker_offset`` of stdout arrived."""
    for stamp, end in chunks:
        if marker_offset < end:
            return stamp
    raise AssertionError("marker offset beyond the output read")


def run_process(argv: list[str], *, marker: bytes | None = None, timeout: float = 60.0,
                env: dict[str, str] | None = None) -> Run:
    """Run ``argv`` to completion with stdin closed; time it and collect its output."""
    start = time.perf_counter()
    try:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, env=env)
    except OSError as error:
        raise BenchError(f"cannot start {argv[0]}: {error.strerror}") from None
    stdout = bytearray()
    stderr = bytearray()
    chunks: list[tuple[float, int]] = []  # (arrival time, stdout length after it)
    deadline = start + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ, stdout)
        selector.register(process.stderr, selectors.EVENT_READ, stderr)
        while selector.get_map():
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                process.send_signal(signal.SIGKILL)
                process.wait()
                raise BenchError(f"{' '.join(argv)} did not finish within {timeout:.0f} s")
            for key, _ in selector.select(remaining):
                data = os.read(key.fileobj.fileno(), READ_SIZE)
                if not data:
                    selector.unregister(key.fileobj)
                    key.fileobj.close()
                    continue
                key.data.extend(data)
                if key.data is stdout:
                    chunks.append((time.perf_counter(), len(stdout)))
    _, wait_status, usage = os.wait4(process.pid, 0)
    end = time.perf_counter()
    process.returncode = os.waitstatus_to_exitcode(wait_status)
    to_marker = None
    if marker is not None:
        offset = stdout.find(marker)
        if offset >= 0:
            to_marker = _marker_time(chunks, offset) - start
    return Run(to_marker, end - start, usage.ru_utime + usage.ru_stime,
               usage.ru_maxrss * 1024, process.returncode,
               bytes(stdout), bytes(stderr),
               tuple((stamp - start, length) for stamp, length in chunks))


def describe_failure(argv: list[str], run: Run) -> str:
    """One line saying how a run went wrong, with the last line it printed."""
    lines = (run.stderr or run.stdout).decode(errors="replace").strip().splitlines()
    last = lines[-1] if lines else "no output"
    return f"{os.path.basename(argv[0])} exited with status {run.status}: {last}"
