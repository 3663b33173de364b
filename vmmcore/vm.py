"""The VM context passed to every hook, and the one place a VM is wired and run.

``Vm`` holds what plugins share: the configuration, the KVM fds, guest memory, the
two buses, the vCPUs, the images, a typed stash for plugin state, and the console.
:func:`run_vm` builds it through the stages, runs the vCPU threads, and always
tears down what was built.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Any, BinaryIO

import pluggy

from .bus import Bus
from .config import Config
from .images import LoadedImage
from .kvm.fds import Kvm, VmFd
from .kvm.seam import Backend
from .layout import MemoryLayout
from .memory import GuestMemory
from .stages import StageRunner
from .stash import Stash
from .vcpu import Vcpu

log = logging.getLogger(__name__)

_KICK_SIGNAL = signal.SIGUSR1


class Vm:
    """Everything one VM consists of while it is built, runs and is torn down."""

    def __init__(
        self,
        config: Config,
        pm: pluggy.PluginManager,
        backend: Backend,
        console: BinaryIO | None = None,
    ) -> None:
        self.config = config
        self.pm = pm
        self.hook = pm.hook
        self.backend = backend
        self.console: BinaryIO = console if console is not None else sys.stdout.buffer
        self.kvm: Kvm | None = None
        self.vmfd: VmFd | None = None
        self.layout: MemoryLayout | None = None
        self.memory = GuestMemory()
        self.pio = Bus("port I/O")
        self.mmio = Bus("MMIO")
        self.vcpus: list[Vcpu] = []
        self.kernel: LoadedImage | None = None
        self.initrd: LoadedImage | None = None
        self.dtb: LoadedImage | None = None
        self.stash = Stash()
        #: The arch plugin's interrupt controller facade (``set_level``, ``irqfd``...).
        self.irqchip: Any = None
        self.stopping = threading.Event()
        self.exit_code = 0
        self.error: BaseException | None = None
        #: Messages printed at exit unless --nocompat (kvmtool's compat warnings).
        self.compat_messages: list[str] = []
        #: Lines plugins add for the ``--dry-run`` report (e.g. a layer's predicted measurement).
        self.report: list[str] = []

    # ------------------------------------------------------------ stopping

    def request_stop(self, code: int = 0, error: BaseException | None = None) -> None:
        """Ask every vCPU to stop; the first request's code and error win."""
        if not self.stopping.is_set():
            self.exit_code = code
            self.error = error
            self.stopping.set()
        for vcpu in self.vcpus:
            vcpu.kick()
            thread = vcpu.thread
            if thread is not None and thread.ident and thread is not threading.current_thread():
                try:
                    signal.pthread_kill(thread.ident, _KICK_SIGNAL)
                except (ProcessLookupError, OSError):
                    pass

    def write_console(self, data: bytes) -> None:
        """Guest console output (serial or virtio) goes to the terminal."""
        self.console.write(data)
        self.console.flush()

    # ------------------------------------------------------------ running

    def _vcpu_main(self, vcpu: Vcpu) -> None:
        try:
            vcpu.run_loop()
        except BaseException as error:  # reported by run_vm on the main thread
            if self.config.debug:
                self._dump_registers(vcpu)
            self.request_stop(1, error)

    def _dump_registers(self, vcpu: Vcpu) -> None:
        """With --debug, show the failing vCPU's registers (when the arch allows)."""
        try:
            dump = self.hook.vmm_register_dump(vcpu=vcpu)
        except Exception as error:  # the dump must not hide the original error
            dump = f"(register dump failed: {error})"
        if dump:
            print(f"vCPU {vcpu.id} registers:\n{dump}", file=sys.stderr)

    def start_vcpus(self) -> None:
        signal.signal(_KICK_SIGNAL, lambda signum, frame: None)
        for vcpu in self.vcpus:
            vcpu.thread = threading.Thread(
                target=self._vcpu_main, args=(vcpu,), name=f"vcpu{vcpu.id}", daemon=True
            )
            vcpu.thread.start()

    def wait(self) -> None:
        while not self.stopping.wait(0.2):
            if not any(vcpu.thread and vcpu.thread.is_alive() for vcpu in self.vcpus):
                self.request_stop(self.exit_code)
        for vcpu in self.vcpus:
            if vcpu.thread is not None:
                vcpu.thread.join(timeout=5)

    def close(self) -> None:
        """Release fds and memory (after the exit stages)."""
        for vcpu in self.vcpus:
            vcpu.fd.close()
        self.vcpus.clear()
        for region in self.memory.regions:
            if region.guest_memfd is not None:
                self.backend.close(region.guest_memfd)
                region.guest_memfd = None
        if self.vmfd is not None:
            self.vmfd.close()
            self.vmfd = None
        self.memory.close()
        if self.kvm is not None:
            self.kvm.close()
            self.kvm = None


def run_vm(vm: Vm, *, start: bool = True) -> int:
    """Build ``vm`` through the init stages, run it, tear it down; return the exit code.

    With ``start=False`` (``--dry-run``) the VM is built and torn down without running
    its vCPUs.
    """
    stages = StageRunner(vm.hook)
    previous = _install_stop_signals(vm)
    try:
        stages.init_all(vm)
        if start:
            vm.start_vcpus()
            vm.wait()
        else:
            vm.request_stop(0)
    finally:
        try:
            vm.stopping.set()
            stages.exit_all(vm)
        finally:
            vm.close()
            _restore_signals(previous)
    if vm.error is not None:
        raise vm.error
    if vm.compat_messages and not vm.config.nocompat:
        for message in vm.compat_messages:
            print(f"  # {message}\n  # To stop seeing this warning, use the --nocompat option.",
                  file=sys.stderr)
    return vm.exit_code


def _install_stop_signals(vm: Vm) -> dict[int, Any]:
    previous: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous[signum] = signal.signal(
            signum, lambda number, frame: vm.request_stop(128 + number)
        )
    return previous


def _restore_signals(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


