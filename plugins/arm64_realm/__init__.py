"""Arm CCA realms (the "[RFC kvmtool 00/31] arm64: Support for Arm CCA" series), layered
onto the arm64 plugin, through the series' RFC-v1 host UABI or the v7 one
(:mod:`.generation`: detected, or ``--realm-uabi``).

Registered after arm64: ``wrapper=True`` hooks adjust arm64's results (VM type, vCPU
features, boot registers, PSCI conduit, model of KVM) and plain hooks add the
realm's steps. The realm's state lives in ``vm.stash[REALM_KEY]`` (:mod:`.state`). Heavy imports (cffi,
the RMM model) happen inside the hooks, and the hook modules only when the layer is
registered or asked for its commands (:mod:`vmm.core.lazyhooks`), so ``vmm --help``
and runs on other architectures stay fast.
"""

from vmm.core.lazyhooks import lazy_hooks

VMM_LAYER_FOR = "arm64"

__getattr__, __dir__ = lazy_hooks(__name__, {
    ".cli": ("vmm_add_commands",),
    ".lifecycle": ("vmm_arm64_sve", "vmm_core_init", "vmm_image_loaded", "vmm_kernel_loaded",
                   "vmm_last_init", "vmm_memory_allocated", "vmm_private_memory",
                   "vmm_vcpu_boot_registers", "vmm_vcpu_features", "vmm_vcpu_finalize",
                   "vmm_vcpu_init", "vmm_vm_type"),
    ".options": ("vmm_addoption", "vmm_validate_config"),
    ".runtime": ("vmm_kvm_model", "vmm_mmio_unhandled", "vmm_psci_method", "vmm_register_dump",
                 "vmm_virtio_host_features"),
})
