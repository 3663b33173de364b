"""Arm CCA realms (the "[RFC kvmtool 00/31] arm64: Support for Arm CCA" series, RFC-v1
UABI), layered onto the arm64 plugin.

Registered after arm64: ``wrapper=True`` hooks adjust arm64's results (VM type, boot
registers, PSCI conduit, model of KVM) and plain hooks add the realm's steps. The
realm's state lives in ``vm.stash[REALM_KEY]`` (:mod:`.state`). Heavy imports (cffi,
the RMM model) happen inside the hooks, so ``vmm --help`` stays fast.
"""

from .cli import vmm_add_commands  # noqa: F401
from .lifecycle import (  # noqa: F401
    vmm_core_init,
    vmm_image_loaded,
    vmm_kernel_loaded,
    vmm_last_init,
    vmm_memory_allocated,
    vmm_vcpu_boot_registers,
    vmm_vcpu_finalize,
    vmm_vm_type,
)
from .options import vmm_addoption, vmm_validate_config  # noqa: F401
from .runtime import (  # noqa: F401
    vmm_kvm_model,
    vmm_mmio_unhandled,
    vmm_psci_method,
    vmm_register_dump,
    vmm_virtio_host_features,
)

VMM_LAYER_FOR = "arm64"
