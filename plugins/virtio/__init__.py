"""The virtio plugin: transports (MMIO, PCI) and devices, for every architecture.

No ``VMM_ARCH``: it loads whatever the guest architecture. Devices are built in the
"virtio_dev" stage from ``--console virtio``, ``--disk``, ``--rng`` and ``--network``.
"""

from .hooks import (  # noqa: F401
    vmm_addoption,
    vmm_device_tree,
    vmm_validate_config,
    vmm_virtio_dev_exit,
    vmm_virtio_dev_init,
)
