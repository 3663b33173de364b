"""``python -m benchmarks.exitpath``: the Python share of one exit, without KVM.

A stand-in backend answers KVM_RUN at once with an exit already written in the
``kvm_run`` area, so ``Vcpu.step()`` runs the whole user-space path (the ioctl seam,
the exit decoder, the dispatch, the bus) and nothing else. This isolates what vmm
adds to the kernel's round trip, with far less noise than a real guest; it is the
number to watch when changing vmmcore/vcpu.py, kvm/exits.py, kvm/fds.py or bus.py.
``--profile`` shows where the time goes (cProfile).
"""

from __future__ import annotations

import mmap
import statistics
import sys

import pluggy

from vmm import NAME, hookspecs
from vmm.core.config import Config
from vmm.core.kvm import ioctls as k
from vmm.core.kvm.fds import Kvm
from vmm.core.vcpu import Vcpu
from vmm.core.vm import Vm

from . import microbench

PORT = 0x0EE0
MMIO_ADDRESS = 0xD000_0000
CLAIMED_PORT = 0x03F8
#: KVM puts port-I/O data in the page after struct kvm_run.
IO_DATA_OFFSET = mmap.PAGESIZE
RUN_AREA_SIZE = 2 * mmap.PAGESIZE


class NullDevice:
    """A device that accepts every access (the cheapest claimed port)."""

    def io_read(self, offset: int, size: int) -> int:
        return 0

    def io_write(self, offset: int, size: int, value: int) -> None:
        pass


class ReplayBackend:
    """Answers every ioctl at once; KVM_RUN leaves the prepared exit in place."""

    name = "replay"

    def __init__(self) -> None:
        self.area = bytearray(RUN_AREA_SIZE)
        self._answers = {k.KVM_GET_API_VERSION.number: k.KVM_API_VERSION,
                         k.KVM_GET_VCPU_MMAP_SIZE.number: RUN_AREA_SIZE,
                         k.KVM_CREATE_VM.number: 4, k.KVM_CREATE_VCPU.number: 5}

    def open_kvm(self) -> int:
        return 3

    def ioctl(self, fd: int, request: int, arg: int) -> int:
        return self._answers.get(request, 0)

    def map_vcpu_run(self, fd: int, size: int) -> memoryview:
        return memoryview(self.area)

    def close(self, fd: int) -> None:
        pass


def prepare_exit(run, kind: str) -> None:
    """Write a one-byte port-I/O or MMIO store exit into the ``kvm_run`` area."""
    if kind == "mmio":
        run.exit_reason = k.KVM_EXIT_MMIO
        run.mmio.phys_addr = MMIO_ADDRESS
        run.mmio.len = 1
        run.mmio.is_write = 1
        return
    run.exit_reason = k.KVM_EXIT_IO
    run.io.direction = k.KVM_EXIT_IO_OUT
    run.io.size = 1
    run.io.count = 1
    run.io.port = CLAIMED_PORT if kind == "pio-claimed" else PORT
    run.io.data_offset = IO_DATA_OFFSET


def build_vcpu() -> Vcpu:
    """A VM with one vCPU on the replay backend, a null device on the claimed port."""
    pm = pluggy.PluginManager(NAME)
    pm.add_hookspecs(hookspecs)
    backend = ReplayBackend()
    vm = Vm(Config(arch="x86"), pm, backend)
    vm.kvm = Kvm(backend)
    vm.vmfd = vm.kvm.create_vm()
    vm.pio.register(CLAIMED_PORT, 8, NullDevice())
    return Vcpu(vm, 0, vm.vmfd.create_vcpu(0))


def main(argv: list[str] | None = None) -> int:
    args = microbench.parser("python -m benchmarks.exitpath", __doc__, "exits", 200_000,
                             "steps per sample").parse_args(argv)
    for kind in ("pio", "pio-claimed", "mmio"):
        vcpu = build_vcpu()
        prepare_exit(vcpu.fd.kvm_run, kind)
        if args.profile:
            microbench.print_profile(kind, vcpu.step, args.exits)
            continue
        samples = [microbench.per_call(vcpu.step, args.exits) for _ in range(args.samples)]
        print(f"{kind:12s} us per exit (Python share): min {min(samples):.3f}  "
              f"median {statistics.median(samples):.3f}  max {max(samples):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
