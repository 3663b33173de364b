"""The riscv architecture plugin, after kvmtool's riscv support.

ISA and timer from KVM's ONE_REG registers (``--disable-<ext>`` hides extensions),
KVM's in-kernel AIA or a PLIC emulated in vmm behind one irqchip facade, riscv
``Image`` loading, a generated device tree, SBI calls forwarded by KVM, and a model of
riscv KVM for ``--dry-run`` and tests.

Hook implementations live in modules named by role, as on every arch plugin:
:mod:`.options`, :mod:`.machine` (memory map, model, irqchip), :mod:`.boot` (images),
:mod:`.vcpu` (vCPUs and exits), :mod:`.devices` (UART, device tree) and
:mod:`.emulated_host`; they import the working modules only when a hook runs.
"""

from vmm.core.lazyhooks import lazy_hooks

VMM_ARCH = "riscv"
#: ``os.uname().machine`` of the hosts where this is the native arch (--arch's default).
VMM_HOST_MACHINES = ("riscv64",)

# The hook modules are imported when the plugin is registered (vmm.core.lazyhooks),
# so other arches' runs and ``vmm --help`` don't import them.
__getattr__, __dir__ = lazy_hooks(__name__)
