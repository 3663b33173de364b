"""Run a real guest image on /dev/kvm with ``vmm run``, for plugin tests.

:func:`run_guest` starts ``python -m vmm run -k IMAGE`` in a process of its own
(with the plugins installed where the tests run), waits at most ``timeout``
seconds and returns the exit status and output. A guest that never stops is
killed with its whole process group, and the test fails with what it printed.

What a guest image is, per architecture (as ``vmm run -k`` loads it):

- x86: with ``flat=True`` (``vmm run --flat``) the image is a flat binary, loaded
  at 0x10000 and started in 16-bit real mode at 1000:0000, as kvmtool does, with
  the stack at 1000:8000 (without it, a bzImage or ELF vmlinux is expected).
  ``out`` and ``in`` reach port-I/O devices; ``cli; hlt`` ends the VM (vmm sees
  every vCPU halted with interrupts off: status 0 if the guest wrote console
  output, else a one-line error and status 1).
- arm64, riscv: a Linux ``Image`` (see :func:`vmm.core.testing.images.minimal_kernel`,
  which wraps your code in a valid header); the guest powers off through PSCI or
  SBI. This machine's /dev/kvm is x86 only.

Use it through the ``vmm_kvm_guest`` fixture, which fails (CI) or skips without
/dev/kvm and writes image bytes to the test's temporary directory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

#: Seconds a guest may run before it is killed (a test guest needs far less).
DEFAULT_TIMEOUT = 30.0


class GuestTimeoutError(AssertionError):
    """The guest was still running after the timeout (it was killed)."""


@dataclass
class GuestRun:
    """How ``vmm run`` ended: its exit status (the guest's, through a device or a
    power-off) and what it printed (stdout: the guest's console)."""

    status: int
    stdout: str
    stderr: str


def run_guest(image: str | os.PathLike[str], *options: str, arch: str | None = None,
              mem_mib: int = 16, timeout: float = DEFAULT_TIMEOUT, flat: bool = False,
              python: str = sys.executable) -> GuestRun:
    """Boot ``image`` on /dev/kvm with ``vmm run`` and the extra ``options``.

    :param image: the guest image's path (``-k``).
    :param options: more ``vmm run`` arguments (``"--testexit-port", "0xf4"``).
    :param arch: ``--arch`` (default: the host's).
    :param mem_mib: guest RAM (``-m``); small guests need little.
    :param timeout: seconds before the guest is killed and the test fails.
    :param flat: x86: the image is a flat real-mode binary (``--flat``).
    :param python: the interpreter whose vmm and plugins run the guest.
    :raises GuestTimeoutError: when the guest outlived ``timeout``.
    """
    argv = [python, "-m", "vmm", "run", "-k", str(image), "-m", str(mem_mib)]
    if arch is not None:
        argv += ["--arch", arch]
    if flat:
        argv.append("--flat")
    argv += list(options)
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        raise GuestTimeoutError(
            f"the guest {image} was still running after {timeout:g} s and was killed; "
            f"it printed {stdout[-500:]!r}, vmm said {stderr[-500:]!r}") from None
    return GuestRun(process.returncode, stdout, stderr)


def write_image(directory: Path, data: bytes, name: str = "guest.bin") -> Path:
    """``data`` written to ``directory/name``; its path."""
    path = Path(directory) / name
    path.write_bytes(data)
    return path
