"""Open file description (OFD) locks on image files, and who holds them.

A disk image is locked for as long as a VM has it open, as QEMU does: a shared
(read) lock for a read-only disk, an exclusive (write) lock otherwise, over the
whole file. Two writers, or a writer and a reader, can then never share an image,
whichever process they are in (OFD locks belong to the open file, not to the
process, so two opens in one process conflict too). The lock goes with the last
close of the file.

When a lock is refused, the holder is found the way ``lslocks`` does: an OFD lock
shows pid -1 in /proc/locks, but ``/proc/PID/fdinfo/FD`` lists the locks held
through that fd, so the process with an fd on the same file (same st_dev and
st_ino) and a lock line is the holder.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError
from .kvm.ffiload import load_ffi

log = logging.getLogger(__name__)

#: glibc's ``struct flock`` on every 64-bit Linux (off_t is 64 bits); a test
#: compares it with <fcntl.h>.
ffi = load_ffi("flock", """
struct flock {
    short l_type;
    short l_whence;
    int64_t l_start;
    int64_t l_len;
    int l_pid;
};
""")

#: Errors that mean "someone else holds a conflicting lock".
_CONFLICT = (errno.EAGAIN, errno.EACCES)
#: Errors that mean "this file system has no locks": the image is used unlocked.
_UNSUPPORTED = (errno.ENOLCK, errno.EINVAL, errno.EOPNOTSUPP)


@dataclass(frozen=True)
class LockHolder:
    """A process holding a lock on a file: its pid, command name and lock kind."""

    pid: int
    command: str
    writing: bool

    def __str__(self) -> str:
        return f"process {self.pid} ({self.command})"


def _request(shared: bool) -> Any:  # a cffi struct flock *
    request = ffi.new("struct flock *")
    request.l_type = fcntl.F_RDLCK if shared else fcntl.F_WRLCK
    request.l_whence = os.SEEK_SET
    request.l_start = 0
    request.l_len = 0  # to the end of the file, however it grows
    return request


def lock_file(fd: int, path: str, what: str, *, shared: bool, probe: bool = False) -> None:
    """Take a shared or exclusive OFD lock on the whole of ``fd``'s file.

    :param probe: only check that the lock could be taken (``F_OFD_GETLK``), take
        nothing (a dry run leaves no trace on the host).
    :raises ConfigError: another open of the file holds a conflicting lock; the
        message names the holder when it can be found.
    """
    request = bytes(ffi.buffer(_request(shared)))
    try:
        if not probe:
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, request)
            return
        answer = ffi.from_buffer("struct flock *",
                                 bytearray(fcntl.fcntl(fd, fcntl.F_OFD_GETLK, request)))
        if answer.l_type == fcntl.F_UNLCK:
            return
    except OSError as error:
        if error.errno in _UNSUPPORTED:
            log.warning("%s %s can't be locked (%s); it is used unlocked", what, path,
                        error.strerror)
            return
        if error.errno not in _CONFLICT:
            raise ConfigError(f"can't lock {what} {path!r}: {error.strerror}") from None
    raise ConfigError(_conflict_message(fd, path, what, shared))


def _conflict_message(fd: int, path: str, what: str, shared: bool) -> str:
    holder = find_lock_holder(fd)
    who = str(holder) if holder is not None else "another process"
    doing = "" if holder is None else (", which is writing it" if holder.writing
                                       else ", which is reading it")
    advice = "stop that process first"
    if not shared and holder is not None and not holder.writing:
        advice += ", or add ,ro to share it read-only"
    return f"{what} {path!r} is in use by {who}{doing}; {advice}"


def find_lock_holder(fd: int) -> LockHolder | None:
    """The other process holding a lock on ``fd``'s file, if /proc shows one."""
    info = os.fstat(fd)
    target = (info.st_dev, info.st_ino)
    own = os.getpid()
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return None
    fallback: LockHolder | None = None
    for pid in pids:
        for lock_line in _locks_on(pid, target):
            holder = LockHolder(pid, _command(pid), " WRITE " in lock_line)
            if pid != own:
                return holder
            fallback = fallback or holder  # another open of the file in this process
    return fallback


def _locks_on(pid: int, target: tuple[int, int]) -> list[str]:
    """The lock lines of ``pid``'s fds open on the file ``target`` (dev, inode)."""
    fd_dir = f"/proc/{pid}/fd"
    try:
        fds = os.listdir(fd_dir)
    except OSError:  # gone, or not ours to look at
        return []
    lines: list[str] = []
    for name in fds:
        try:
            info = os.stat(f"{fd_dir}/{name}")
            if (info.st_dev, info.st_ino) != target:
                continue
            with open(f"/proc/{pid}/fdinfo/{name}") as fdinfo:
                lines += [line for line in fdinfo if line.startswith("lock:")]
        except OSError:
            continue
    return lines


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as comm:
            return comm.read().strip()
    except OSError:
        return "?"
