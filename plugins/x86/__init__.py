"""The x86 architecture plugin: KVM's in-kernel irqchip and PIT, Linux bzImage/ELF
(64-bit and PVH boot protocols) and flat real-mode guests, COM1, i8042, MP table.

Hook implementations live in small modules that import their heavy parts lazily,
and those modules are imported only when the plugin is registered
(:mod:`vmm.core.lazyhooks`), so ``vmm --help`` and other arches' runs stay cheap.
"""

from vmm.core.lazyhooks import lazy_hooks

VMM_ARCH = "x86"
#: ``os.uname().machine`` of the hosts where this is the native arch (--arch's default).
VMM_HOST_MACHINES = ("x86_64", "amd64")

__getattr__, __dir__ = lazy_hooks(__name__)
