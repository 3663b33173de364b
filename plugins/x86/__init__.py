"""The x86 architecture plugin: KVM's in-kernel irqchip and PIT, Linux bzImage/ELF
(64-bit and PVH boot protocols) and flat real-mode guests, COM1, i8042, MP table.

Hook implementations live in small modules that import their heavy parts lazily,
so importing the plugin (``vmm --help``) stays cheap.
"""

from .devhooks import vmm_dev_exit, vmm_dev_init, vmm_firmware_init  # noqa: F401
from .emulated_host import vmm_emulated_host  # noqa: F401
from .imagehooks import vmm_load_initrd, vmm_load_kernel  # noqa: F401
from .vmhooks import (  # noqa: F401
    vmm_core_init,
    vmm_handle_exit,
    vmm_kvm_model,
    vmm_memory_layout,
    vmm_register_dump,
    vmm_validate_config,
    vmm_vcpu_boot_registers,
    vmm_vcpu_finalize,
    vmm_vcpu_init,
)

VMM_ARCH = "x86"
