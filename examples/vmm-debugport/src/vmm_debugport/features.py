"""The virtio feature bit this plugin offers, and why it is harmless.

VIRTIO_F_ORDER_PLATFORM (bit 36, virtio 1.1 section 6) says that the driver must
order its memory accesses as the platform requires for real hardware devices,
instead of the lighter barriers that suffice between CPUs when both sides are
software. A device emulated by vmm *is* software running on the host's CPUs, so
this ordering is stronger than it needs: offering the bit asks nothing of the
device, and a driver that accepts it only uses heavier barriers (a little
slower, never wrong). It is a bit any device may carry and ignore, which makes it
a safe demonstration of ``vmm_virtio_host_features``.
"""

from __future__ import annotations

VIRTIO_F_ORDER_PLATFORM = 36
ORDER_PLATFORM_BIT = 1 << VIRTIO_F_ORDER_PLATFORM
