"""The riscv plugin's per-VM state, kept in the VM's typed stash."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from vmm.core.stash import StashKey

from .isa import CpuFeatures

if TYPE_CHECKING:
    from vmm.core.devices.uart8250 import Uart8250
    from vmm.core.vm import Vm


@dataclass
class RiscvState:
    """What the riscv hooks share between stages."""

    #: The harts' ISA, MMU and timer, read from vCPU 0's ONE_REG registers.
    features: CpuFeatures | None = None
    uart: Uart8250 | None = None
    uart_line: int = 0


RISCV_STATE = StashKey[RiscvState]()


def riscv_state(vm: Vm) -> RiscvState:
    """The VM's riscv state (created on first use)."""
    return vm.stash.setdefault(RISCV_STATE, RiscvState)
