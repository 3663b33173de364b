"""CSR accesses KVM forwards to user space (KVM_EXIT_RISCV_CSR).

KVM hands the Zkr entropy source, the ``seed`` CSR, to the VMM: Linux reads it early
for its random pool when the hart has Zkr. vmm answers with host entropy and the
"ES16" status (16 valid bits), as the Zkr specification lays the CSR out.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .exits import set_csr_return

if TYPE_CHECKING:
    from vmm.core.vcpu import Vcpu

    from .exits import RiscvCsrExit

CSR_SEED = 0x015
SEED_OPST_ES16 = 0b10 << 30  # OPST field: 16 bits of entropy follow
SEED_ENTROPY_BYTES = 2


def handle_csr(vcpu: Vcpu, access: RiscvCsrExit) -> bool:
    """Answer a ``seed`` read; any other CSR is not handled (False)."""
    if access.csr_num != CSR_SEED:
        return False
    entropy = int.from_bytes(os.urandom(SEED_ENTROPY_BYTES), "little")
    set_csr_return(vcpu, SEED_OPST_ES16 | entropy)
    return True
