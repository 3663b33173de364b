"""Run as a program: a model arm64 VM whose "guest" writes its virtio disk, then ends.

``python -m tests.virtio.exit_guest poweroff|sigterm|sigint|sighup DISK`` builds the VM with
``run_vm`` (the real run path, signal handlers included). In the last init stage the
guest writes sector 1 through virtio-mmio and waits until the device completed it;
then it either powers off (the model's idle exit) or keeps running until a signal
ends vmm. The exit code is vmm's.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

from vmm import hookimpl
from vmm.core.testing.model_vm import make_model_vm
from vmm.core.vm import run_vm
from vmm.plugins.virtio.wiring import KEY

from .conftest import guest_allocator
from .guest import F_VERSION_1, MmioGuest, wait_for

SECTOR = 1
DATA = b"D" * 512
SIGNALS = {"sigterm": signal.SIGTERM, "sigint": signal.SIGINT, "sighup": signal.SIGHUP}


class GuestWrites:
    """The guest's side: one completed write, then power off or wait for a signal."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    @hookimpl(trylast=True)
    def vmm_last_init(self, vm) -> None:
        guest = MmioGuest(vm, vm.stash[KEY].mmio[0].base, guest_allocator(vm))
        (ring,) = guest.start(F_VERSION_1, 1)
        header = (1).to_bytes(4, "little") + bytes(4) + SECTOR.to_bytes(8, "little")
        _, addresses = ring.add([(header, False), (DATA, False), (1, True)])
        guest.notify(0)
        wait_for(ring.used)
        assert vm.memory.read(addresses[-1], 1) == b"\0"
        print("GUEST-SAW-COMPLETION", flush=True)
        if self.mode in SIGNALS:
            threading.Timer(0.3, os.kill, (os.getpid(), SIGNALS[self.mode])).start()

    @hookimpl
    def vmm_handle_exit(self, vcpu, exit):
        """Waiting for a signal: the guest's power-off requests are ignored."""
        return True if self.mode in SIGNALS else None


def main() -> int:
    mode, disk = sys.argv[1], sys.argv[2]
    model = make_model_vm("arm64", workdir=Path(disk).parent, options={"disk": [disk]}, mem_mib=64,
                          extra_plugins=[("guest", GuestWrites(mode))], dry_run=False)
    code = run_vm(model.vm)
    print("TORN-DOWN", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
