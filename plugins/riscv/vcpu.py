"""riscv vCPUs: ISA extensions hidden as asked, features read, boot registers.

Each vCPU gets ONE_REG access by register name. The ``--disable-<ext>`` extensions
are switched off on every vCPU (ISA_EXT registers) before it first runs; vCPU 0 then
reports what the guest will see (CONFIG ``isa``, one ISA_EXT register per extension,
``satp_mode``, the TIMER ``frequency``) for the device tree. At boot, a0 holds the
hart id, a1 the device tree's address, and pc the kernel's entry; KVM keeps every
hart but the first stopped until the guest starts it with SBI HSM. The SBI calls
KVM forwards are handled in :mod:`.sbi`.

The cffi declarations are imported inside the functions, so registering the plugin
(``vmm run --arch riscv --help``) doesn't parse them.
"""

from __future__ import annotations

import errno
import logging
from typing import TYPE_CHECKING, Any

from vmm import hookimpl
from vmm.core.errors import ConfigError, KvmError

if TYPE_CHECKING:
    from vmm.core.kvm.exits import Exit
    from vmm.core.kvm.fds import VcpuFd
    from vmm.core.vcpu import Vcpu
    from vmm.core.vm import Vm

    from .isa import CpuFeatures
    from .registers import RiscvRegisters

log = logging.getLogger(__name__)

_ABSENT = (errno.ENOENT, errno.EINVAL)


def _get_optional(fd: VcpuFd, reg_id: int) -> int | None:
    """A ONE_REG value, or None when this KVM (or host) has no such register."""
    from . import uapi

    try:
        return fd.get_one_reg(reg_id, uapi.ULONG_SIZE)
    except KvmError as error:
        if error.errno in _ABSENT:
            return None
        raise


def disable_extension(fd: VcpuFd, name: str) -> None:
    """Switch ISA extension ``name`` off (nothing to do when the host lacks it)."""
    from . import uapi
    from .isa import ISA_EXT_ID
    from .registers import isa_ext_id

    reg_id = isa_ext_id(ISA_EXT_ID[name])
    if not _get_optional(fd, reg_id):
        return
    try:
        fd.set_one_reg(reg_id, 0, uapi.ULONG_SIZE)
    except KvmError as error:
        if error.errno == errno.EINVAL:
            raise ConfigError(
                f"--disable-{name}: KVM can't hide {name} from the guest on this host; "
                "drop the option"
            ) from None
        raise


def enable_debug_console(fd: VcpuFd) -> None:
    """Let the guest use the SBI debug console (forwarded to vmm), if KVM has it."""
    from . import uapi
    from .registers import sbi_ext_id

    try:
        fd.set_one_reg(sbi_ext_id(uapi.KVM_RISCV_SBI_EXT_DBCN), 1, uapi.ULONG_SIZE)
    except KvmError as error:
        if error.errno not in _ABSENT:
            raise
        log.debug("no SBI debug console extension in this KVM")


def read_features(registers: RiscvRegisters) -> CpuFeatures:
    """What KVM gives the guest: base letters, extensions, MMU modes, timebase."""
    from . import uapi
    from .isa import ISA_EXT_ID, MULTI_LETTER, CpuFeatures, isa_bitmap_letters
    from .registers import isa_ext_id

    fd = registers.fd
    features = CpuFeatures(
        xlen=8 * uapi.ULONG_SIZE,
        letters=isa_bitmap_letters(registers.get("config.isa")),
        satp_mode=registers.get_optional("config.satp_mode"),
        timebase_frequency=registers.get("timer.frequency"),
    )
    features.extensions = [
        name for name in MULTI_LETTER if _get_optional(fd, isa_ext_id(ISA_EXT_ID[name]))
    ]
    if "zicbom" in features.extensions:
        features.zicbom_block_size = registers.get_optional("config.zicbom_block_size")
    if "zicboz" in features.extensions:
        features.zicboz_block_size = registers.get_optional("config.zicboz_block_size")
    return features


@hookimpl
def vmm_vcpu_init(vm: Vm, vcpu: Vcpu) -> None:
    """ONE_REG access, --disable-<ext>, SBI DBCN on; vCPU 0 reports the features."""
    from .options import disabled_extensions
    from .registers import RiscvRegisters
    from .state import riscv_state

    registers = RiscvRegisters(vcpu.fd)
    vcpu.registers = registers
    for name in disabled_extensions(vm.config):
        disable_extension(vcpu.fd, name)
    enable_debug_console(vcpu.fd)
    if vcpu.id == 0:
        riscv_state(vm).features = read_features(registers)


@hookimpl
def vmm_vcpu_boot_registers(vm: Vm, vcpu: Vcpu) -> dict[str, int]:
    """pc = kernel entry, a0 = hart id, a1 = device tree address."""
    assert vm.kernel is not None and vm.dtb is not None
    entry = vm.kernel.entry if vm.kernel.entry is not None else vm.kernel.guest_start
    return {"pc": entry, "a0": vcpu.id, "a1": vm.dtb.guest_start}


@hookimpl
def vmm_register_dump(vcpu: Vcpu) -> str | None:
    """The core registers (pc, x1..x31, mode), read with ONE_REG."""
    from .registers import RiscvRegisters, dump

    if isinstance(vcpu.registers, RiscvRegisters):
        return dump(vcpu.registers)
    return None


@hookimpl
def vmm_decode_exit(vcpu: Vcpu, reason: int, run: Any) -> Exit | None:
    """Forwarded SBI calls and CSR accesses (:mod:`.exits`)."""
    from .exits import decode_exit

    return decode_exit(reason, run)


@hookimpl
def vmm_handle_exit(vcpu: Vcpu, exit: Exit) -> bool | None:
    """Forwarded SBI calls (console, DBCN, SRST), system events, the seed CSR."""
    from .sbi import handle_exit

    return handle_exit(vcpu, exit)
