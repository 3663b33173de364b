"""The virtio plugin: transports (MMIO, PCI) and devices, for every architecture.

No ``VMM_ARCH``: it loads whatever the guest architecture. Devices are built in the
"virtio_dev" stage from ``--console virtio``, ``--disk``, ``--rng`` and ``--network``.
The hook module is imported when the plugin is registered (:mod:`vmm.core.lazyhooks`).
"""

from vmm.core.lazyhooks import lazy_hooks

__getattr__, __dir__ = lazy_hooks(__name__)
