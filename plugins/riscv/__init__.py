"""The riscv architecture plugin, after kvmtool's riscv support.

ISA and timer from KVM's ONE_REG registers (``--disable-<ext>`` hides extensions),
KVM's in-kernel AIA or a PLIC emulated in vmm behind one irqchip facade, riscv
``Image`` loading, a generated device tree, SBI calls forwarded by KVM, and a model of
riscv KVM for ``--dry-run`` and tests. Hook implementations live in :mod:`.hooks`,
which imports the working modules only when a hook runs.
"""

from vmm.core.lazyhooks import lazy_hooks

VMM_ARCH = "riscv"

# The hook modules are imported when the plugin is registered (vmm.core.lazyhooks),
# so other arches' runs and ``vmm --help`` don't import them.
__getattr__, __dir__ = lazy_hooks(__name__, {
    ".emulated_host": ("vmm_emulated_host",),
    ".hooks": ("vmm_addoption", "vmm_core_exit", "vmm_core_init", "vmm_dev_base_init",
               "vmm_dev_init", "vmm_handle_exit", "vmm_kvm_model", "vmm_late_init",
               "vmm_load_firmware", "vmm_load_initrd", "vmm_load_kernel", "vmm_memory_layout",
               "vmm_register_dump", "vmm_validate_config", "vmm_vcpu_boot_registers",
               "vmm_vcpu_init"),
})
