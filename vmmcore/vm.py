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
from .contracts import Irqchip
from .errors import GuestError
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
#: Port I/O addresses are 16 bits.
PORT_LIMIT = 0x1_0000
#: The largest exit status a process can have.
MAX_EXIT_STATUS = 255
#: How often the VM looks for vCPUs that can never continue (in wait()'s 0.2 s ticks).
STALL_CHECK_TICKS = 5


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
        self.pio = Bus("port I/O", limit=PORT_LIMIT)
        self.mmio = Bus("MMIO")
        self.vcpus: list[Vcpu] = []
        self.kernel: LoadedImage | None = None
        self.initrd: LoadedImage | None = None
        self.dtb: LoadedImage | None = None
        self.stash = Stash()
        #: The arch plugin's interrupt controller facade (``set_level``, ``irqfd``...).
        #: The arch plugin's interrupt controller (set by its ``vmm_core_init``).
        self.irqchip: Irqchip | None = None
        self.stopping = threading.Event()
        self.exit_code = 0
        self.error: BaseException | None = None
        #: Messages printed at exit unless --nocompat (kvmtool's compat warnings).
        self.compat_messages: list[str] = []
        #: Lines plugins add for the ``--dry-run`` report (e.g. a layer's predicted measurement).
        self.report: list[str] = []
        #: Bytes the guest wrote to its console (a guest that never wrote any never
        #: got going: a halt or a triple fault then is an error, not a stop).
        self.console_bytes = 0
        self._stall_round = 0

    # ------------------------------------------------------------ stopping

    def request_stop(self, code: int = 0, error: BaseException | None = None) -> None:
        """Ask every vCPU to stop; the first request's code and error win.

        :param code: the exit status of ``vmm run``, 0 to 255 (a process can't
            exit with more); anything else raises ValueError, the request ignored.
        :param error: an exception ``vmm run`` reports (one line for a VmmError).
        """
        if not 0 <= code <= MAX_EXIT_STATUS:
            raise ValueError(f"request_stop({code}): an exit status is 0 to "
                             f"{MAX_EXIT_STATUS} (mask it: code & 0xff)")
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
        self.console_bytes += len(data)
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

    def stop_stuck_guest(self, reason: str) -> None:
        """The guest can never continue: a stop (status 0) after it wrote output, else
        a one-line error (status 1): it never got going."""
        if self.console_bytes:
            log.debug("the guest stopped: %s", reason)
            self.request_stop(0)
        else:
            self.request_stop(1, GuestError(
                f"the guest can never continue ({reason}) and wrote no output: it did "
                "not start; check that the kernel is one for this machine"))

    def _check_stalls(self) -> None:
        """Stop the VM if every vCPU said it is stalled in the last round; start the
        next round (each vCPU answers after its KVM_RUN returns to the signal)."""
        round_ = self._stall_round
        answers = [vcpu.stall_answer for vcpu in self.vcpus]
        if round_ and answers and all(r == round_ and reason for r, reason in answers):
            self.stop_stuck_guest(f"every vCPU {answers[0][1]}")
            return
        self._stall_round = round_ + 1
        for vcpu in self.vcpus:
            vcpu.stall_check = self._stall_round
            thread = vcpu.thread
            if thread is not None and thread.ident:
                try:
                    signal.pthread_kill(thread.ident, _KICK_SIGNAL)
                except (ProcessLookupError, OSError):
                    pass

    def wait(self) -> None:
        ticks = 0
        while not self.stopping.wait(0.2):
            if not any(vcpu.thread and vcpu.thread.is_alive() for vcpu in self.vcpus):
                self.request_stop(self.exit_code)
            ticks += 1
            if ticks % STALL_CHECK_TICKS == 0:
                self._check_stalls()
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
            _enter_sandbox(vm)
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


def _enter_sandbox(vm: Vm) -> None:
    """Confine the process before the first KVM_RUN, as ``config.sandbox`` says."""
    from . import sandbox

    if sandbox.wanted(vm.config.sandbox):
        sandbox.enter(required=vm.config.sandbox is True)


def _install_stop_signals(vm: Vm) -> dict[int, Any]:
    previous: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    # SIGHUP (the terminal went away) ends the VM as SIGTERM does: torn down, disks
    # fsynced, exit 128 + signal.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        previous[signum] = signal.signal(
            signum, lambda number, frame: vm.request_stop(128 + number)
        )
    return previous


def _restore_signals(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


