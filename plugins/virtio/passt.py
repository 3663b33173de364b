"""User-mode networking (``--network mode=user``) through passt, without root or TAP.

passt (https://passt.top, Debian's ``passt`` package) is a maintained user-mode
network stack: it answers the guest's ARP, DHCP, NDP and DNS, and turns its TCP,
UDP and ICMP into ordinary sockets of this process's user. It speaks QEMU's stream
framing (:class:`.netwire.StreamWire`) on a socket it is handed with ``--fd``.

Life cycle, so that no passt outlives the VM:

- vmm makes a socket pair, keeps one end and starts ``passt --foreground --fd N``
  as its child with the other; passt writes its pid into a pipe (``--pid``) once it
  is set up, or exits with a message (kept in an unlinked temporary file) that
  becomes vmm's one-line error;
- passt quits when its end of the socket closes: when the card is closed at
  teardown (vmm then reaps it, killing it if it lingers), and also when vmm dies
  by any signal, since the kernel closes vmm's end.

As with QEMU and slirp, the guest reaches the host's own loopback at the gateway
address (``host_ip``), and passt's default gives the guest the addresses of the
host's uplink interface (one with a default route is needed).
"""

from __future__ import annotations

import logging
import os
import select
import shutil
import socket
import subprocess
import tempfile
import time
from typing import IO

from vmm.core.errors import ConfigError

from .netwire import StreamWire

log = logging.getLogger(__name__)

PASST = "passt"
#: How long passt may take to set up before vmm gives up on it.
START_TIMEOUT = 10.0
#: How long passt may take to quit once its socket is closed.
EXIT_TIMEOUT = 2.0
EXIT_POLL = 0.01
#: The user passt drops to when started by root (it refuses to stay root).
NOBODY = "65534:65534"
#: passt's own noise when no syslog listens (it logs there as well).
SYSLOG_NOISE = "Failed to send"


def passt_arguments(fd: int, pid_path: str, guest_ip: str = "", host_ip: str = "") -> list[str]:
    """passt's command line: foreground, IPv4 and IPv6, no inbound port forwarding."""
    command = [PASST, "--foreground", "--quiet", "--fd", str(fd), "--pid", pid_path,
               "--tcp-ports", "none", "--udp-ports", "none"]
    if os.geteuid() == 0:
        command += ["--runas", NOBODY]
    if guest_ip:
        command += ["--address", guest_ip]
    if host_ip:
        command += ["--gateway", host_ip]
    return command


class PasstWire(StreamWire):
    """The frame stream to a passt process this wire owns."""

    def __init__(self, fd: int, process: subprocess.Popen[bytes], messages: IO[bytes]) -> None:
        super().__init__(fd)
        self.process = process
        self._messages = messages

    def close(self) -> None:
        """Close the stream (passt quits), reap passt, drop its messages."""
        super().close()
        deadline = time.monotonic() + EXIT_TIMEOUT
        while self.process.poll() is None and time.monotonic() < deadline:
            time.sleep(EXIT_POLL)
        if self.process.poll() is None:
            log.warning("passt (pid %d) did not quit when its socket closed; killing it",
                        self.process.pid)
            self.process.kill()
            self.process.wait()
        text = passt_messages(self._messages)
        if text:
            log.debug("passt said: %s", text)
        self._messages.close()


def passt_messages(stream: IO[bytes]) -> str:
    """What passt wrote on stderr, on one line, without its syslog complaints."""
    stream.seek(0)
    lines = stream.read().decode(errors="replace").splitlines()
    return "; ".join(line.strip() for line in lines
                     if line.strip() and not line.startswith(SYSLOG_NOISE))


def start_passt(guest_ip: str = "", host_ip: str = "") -> PasstWire:
    """Start passt on a new socket pair and wait until it is ready."""
    if shutil.which(PASST) is None:
        raise ConfigError("--network mode=user needs passt, a user-mode network stack: "
                          "apt-get install passt")
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    ready_read, ready_write = os.pipe()
    # passt opens the pipe by its /proc path, perhaps after dropping to nobody.
    os.fchmod(ready_write, 0o622)
    messages = tempfile.TemporaryFile(prefix="vmm-passt-")
    process = None
    try:
        command = passt_arguments(theirs.fileno(), f"/proc/self/fd/{ready_write}",
                                  guest_ip, host_ip)
        process = subprocess.Popen(command, pass_fds=(theirs.fileno(), ready_write),
                                   stdin=subprocess.DEVNULL, stdout=messages,
                                   stderr=messages, start_new_session=True)
        theirs.close()
        os.close(ready_write)
        ready_write = -1
        _wait_ready(ready_read, process, messages)
        log.debug("passt (pid %d) is ready: %s", process.pid, " ".join(command))
        ours.setblocking(False)
        return PasstWire(ours.detach(), process, messages)
    except BaseException:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        ours.close()
        theirs.close()
        messages.close()
        raise
    finally:
        os.close(ready_read)
        if ready_write >= 0:
            os.close(ready_write)


def _wait_ready(ready: int, process: subprocess.Popen[bytes], messages: IO[bytes]) -> None:
    """Return once passt wrote its pid; a one-line error if it quit or hung."""
    readable, _, _ = select.select([ready], [], [], START_TIMEOUT)
    if readable and os.read(ready, 64).strip():
        return
    if not readable:
        raise ConfigError(f"--network mode=user: passt was not ready after {START_TIMEOUT:.0f} s")
    process.wait()
    reason = passt_messages(messages) or f"exit status {process.returncode}"
    if "External interface not usable" in reason:
        reason += " (passt needs a network interface with a default route on this host)"
    raise ConfigError(f"--network mode=user: passt could not start: {reason}")
