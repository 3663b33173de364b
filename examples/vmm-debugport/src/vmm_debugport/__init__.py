"""vmm-debugport: an example third-party vmm plugin, found through the ``vmm`` entry-point group.

It adds, through hooks only:

- a debug device for test guests: reading its MAGIC register gives :data:`MAGIC`, and
  writing a byte to its EXIT register ends the VM with that exit status. On x86 it
  sits on port I/O (``--debug-exit-port``, default 0xf00); on arm64 and riscv it is
  an MMIO device (``--debug-exit-addr``, default: a range vmm allocates) described
  in the device tree as ``compatible = "vmm,debug-exit"``;
- the ``--virtio-order-platform`` flag, which offers the virtio feature bit
  VIRTIO_F_ORDER_PLATFORM (36) for every virtio device (see :mod:`.features`).

This module stays light (vmm imports every plugin at start-up): the hooks import
what they need when they run.
"""

from .device import EXIT_REGISTER, MAGIC, MAGIC_REGISTER, REGISTERS_SIZE  # noqa: F401
from .hooks import (  # noqa: F401
    vmm_addoption,
    vmm_dev_exit,
    vmm_dev_init,
    vmm_device_tree,
    vmm_validate_config,
    vmm_virtio_host_features,
)
