"""vCPUs: the exit loop that dispatches to the buses, converts private memory on a
memory fault, and falls back to hooks."""

from __future__ import annotations

import errno
import threading
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from .bus import Access
from .errors import GuestError, KvmError
from .kvm import ioctls as k

if TYPE_CHECKING:
    import pluggy

    from .bus import Bus
    from .config import Config
    from .kvm.exits import Exit
    from .kvm.fds import VcpuFd, VmFd
    from .memory import GuestMemory
    from .stash import Stash

_ALL_ONES = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFFFFFF, 8: 0xFFFFFFFFFFFFFFFF}
_EXIT_IO = k.KVM_EXIT_IO
_EXIT_MMIO = k.KVM_EXIT_MMIO
_EXIT_INTR = k.KVM_EXIT_INTR
_EXIT_MEMORY_FAULT = k.KVM_EXIT_MEMORY_FAULT


class RegisterAccess(Protocol):
    """How an arch plugin reads and writes a vCPU's registers by name."""

    def set(self, name: str, value: int) -> None: ...

    def get(self, name: str) -> int: ...


class VcpuOwner(Protocol):
    """The VM as its vCPUs, and the hooks handed a vCPU, see it (``vcpu.vm``).

    :class:`vmm.core.vm.Vm` is the implementation. Naming here what a vCPU needs,
    rather than importing ``Vm``, keeps this module below vm.py (which imports it for
    its vCPUs) instead of in an import cycle with it.
    """

    config: Config
    hook: pluggy.HookRelay
    pio: Bus
    mmio: Bus
    memory: GuestMemory
    vmfd: VmFd | None
    stash: Stash
    #: The arch plugin's interrupt controller facade.
    irqchip: Any
    stopping: threading.Event

    def request_stop(self, code: int = 0, error: BaseException | None = None) -> None: ...

    def write_console(self, data: bytes) -> None: ...

    def stop_stuck_guest(self, reason: str) -> None: ...


class Vcpu:
    """One vCPU: its fd, the arch's register access, and its run loop."""

    def __init__(self, vm: VcpuOwner, vcpu_id: int, fd: VcpuFd) -> None:
        self.vm = vm
        self.id = vcpu_id
        self.fd = fd
        self.registers: RegisterAccess | None = None
        self.thread: threading.Thread | None = None
        #: The most recent exit (an arch hook may need to know it, e.g. for an SEA).
        self.last_exit: Any = None
        #: The stall check the VM asked for (a round number), 0 when none is due.
        self.stall_check = 0
        #: (round, reason) of the last stall check: reason None when not stalled.
        self.stall_answer: tuple[int, str | None] = (0, None)
        decode = vm.hook.vmm_decode_exit
        if decode.get_hookimpls():
            fd.exits.arch_decoder = partial(_decode_arch_exit, decode, self)

    def set_reg(self, name: str, value: int) -> None:
        if self.registers is None:
            raise NotImplementedError("the arch plugin gave this vCPU no register access")
        self.registers.set(name, value)

    def get_reg(self, name: str) -> int:
        if self.registers is None:
            raise NotImplementedError("the arch plugin gave this vCPU no register access")
        return self.registers.get(name)

    # ------------------------------------------------------------------ run loop

    def run_loop(self) -> None:
        """Run until the VM is asked to stop; exits are handled on this thread."""
        stopped = self.vm.stopping.is_set
        step = self.step
        while not stopped():
            step()

    def step(self) -> None:
        """KVM_RUN once and handle the exit it returns."""
        try:
            exit_ = self.fd.run()
        except KvmError as error:
            if error.errno in (errno.EINTR, errno.EAGAIN):
                self.fd.kvm_run.immediate_exit = 0
                if self.stall_check:
                    self._answer_stall_check()
                return
            raise
        self.dispatch(exit_)

    def _answer_stall_check(self) -> None:
        """The VM asked whether this vCPU can still continue on its own."""
        round_, self.stall_check = self.stall_check, 0
        self.stall_answer = (round_, self.vm.hook.vmm_vcpu_stalled(vcpu=self))

    def dispatch(self, exit_: Exit) -> None:
        """Handle one decoded exit: buses first, then the arch's hooks."""
        self.last_exit = exit_
        reason = exit_.reason
        if reason == _EXIT_IO:
            self._handle_io(exit_)
        elif reason == _EXIT_MMIO:
            self._handle_mmio(exit_)
        elif reason == _EXIT_MEMORY_FAULT:
            from .kvm.exits import MemoryFaultExit
            from .private_memory import convert_for_fault

            assert self.vm.vmfd is not None
            assert isinstance(exit_, MemoryFaultExit), "the decoder gives this reason a MemoryFaultExit"
            convert_for_fault(self.vm.vmfd, self.vm.memory, self.id, exit_)
        elif reason != _EXIT_INTR:
            handled = self.vm.hook.vmm_handle_exit(vcpu=self, exit=exit_)
            if not handled:
                raise GuestError(f"vCPU {self.id}: unhandled KVM exit {describe_exit(exit_)}")

    def _handle_io(self, exit_: Any) -> None:
        bus = self.vm.pio
        size = exit_.size
        data = exit_.data
        port = exit_.port
        if exit_.count == 1:  # the common case: no string I/O, no slicing
            if exit_.is_write:
                bus.write(port, size, int.from_bytes(data, "little"))
            else:
                value = bus.read(port, size)
                data[:] = (_ALL_ONES[size] if value is None else value).to_bytes(size, "little")
            return
        for index in range(exit_.count):
            chunk = data[index * size : (index + 1) * size]
            if exit_.is_write:
                bus.write(port, size, int.from_bytes(chunk, "little"))
            else:
                value = bus.read(port, size)
                chunk[:] = (_ALL_ONES[size] if value is None else value).to_bytes(size, "little")

    def _handle_mmio(self, exit_: Any) -> None:
        bus = self.vm.mmio
        addr = exit_.addr
        size = exit_.size
        data = exit_.data
        is_write = exit_.is_write
        if is_write:
            value = int.from_bytes(data, "little")
            if bus.write(addr, size, value):
                return
        else:
            read = bus.read(addr, size)
            if read is not None:
                data[:] = read.to_bytes(size, "little")
                return
            data[:] = bytes(size)
            value = 0
        unhandled = self.vm.hook.vmm_mmio_unhandled
        if unhandled.get_hookimpls():  # nobody listening: skip building the access
            unhandled(vcpu=self, access=Access(addr, size, is_write, value))

    def kick(self) -> None:
        """Make a blocked KVM_RUN return so the loop sees the stop request."""
        if self.fd.kvm_run is not None:
            self.fd.kvm_run.immediate_exit = 1


def _decode_arch_exit(decode: Any, vcpu: Vcpu, reason: int, run: Any) -> Any:
    return decode(vcpu=vcpu, reason=reason, run=run)


def describe_exit(exit_: Any) -> str:
    """A short human description of an exit for error messages."""
    names = {
        value: name
        for name, value in vars(k).items()
        if name.startswith("KVM_EXIT_") and not name.startswith("KVM_EXIT_IO_")
    }
    name = names.get(exit_.reason, str(exit_.reason))
    fields = {key: getattr(exit_, key) for key in exit_.field_names()
              if key not in ("reason", "data")}
    return f"{name} {fields}" if fields else name
