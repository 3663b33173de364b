"""Run as a program: the pio guest on /dev/kvm, sandboxed, with a device of its own.

``python -m tests.x86.sandbox_guest forbidden|tiocsti|import|status KERNEL``: a plugin puts a
device on port 0x80, which the guest writes 100,000 times. On the first write the
device (on the vCPU thread, inside the sandbox) either makes a system call no
running VM makes (``socket``), or prints what /proc/self/status says of the
sandbox. The exit status is vmm's.
"""

from __future__ import annotations

import fcntl
import socket
import sys
import termios

from vmm import hookimpl
from vmm.core.config import Config
from vmm.core.plugins import build_manager
from vmm.core.runner import run_config

PORT = 0x80
STATUS_KEYS = ("Seccomp", "NoNewPrivs", "CapEff", "CapBnd")


class Port80:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.done = False

    def io_read(self, offset: int, size: int) -> int:
        return 0

    def io_write(self, offset: int, size: int, value: int) -> None:
        if self.done:
            return
        self.done = True
        if self.mode == "forbidden":
            socket.socket()  # a device handler gone wrong (or taken over)
        if self.mode == "import":  # a lazy import of a module with no bytecode yet
            import vmm_sandbox_lazy_module  # noqa: F401 - the test wrote it, on PYTHONPATH
        if self.mode == "tiocsti":  # type into the user's terminal: an allowed call,
            fcntl.ioctl(1, termios.TIOCSTI, b"x")  # with a request the filter refuses
        with open("/proc/self/status") as status:
            for line in status:
                if line.split(":")[0] in STATUS_KEYS:
                    print(line.strip(), flush=True)


class Port80Plugin:
    def __init__(self, mode: str) -> None:
        self.mode = mode

    @hookimpl
    def vmm_dev_init(self, vm) -> None:
        vm.pio.register(PORT, 1, Port80(self.mode))


def main() -> int:
    mode, kernel = sys.argv[1], sys.argv[2]
    config = Config(arch="x86", kernel=kernel, sandbox=True, given_options={"x86": {"flat": True}})
    pm = build_manager("x86", extra=[("port80", Port80Plugin(mode))])
    return run_config(config, pm=pm)


if __name__ == "__main__":
    sys.exit(main())
