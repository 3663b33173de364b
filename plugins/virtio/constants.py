"""Virtio numbers from the specification (virtio 1.2): feature bits, status, IDs."""

from __future__ import annotations

# Device IDs (5).
DEVICE_ID_NET = 1
DEVICE_ID_BLOCK = 2
DEVICE_ID_CONSOLE = 3
DEVICE_ID_RNG = 4

# Reserved feature bits (6).
F_INDIRECT_DESC = 28
F_EVENT_IDX = 29
F_VERSION_1 = 32
F_ACCESS_PLATFORM = 33

#: Transport features every device offers: indirect descriptors, event index, v1.
TRANSPORT_FEATURES = (1 << F_INDIRECT_DESC) | (1 << F_EVENT_IDX) | (1 << F_VERSION_1)

# Device status bits (2.1).
STATUS_ACKNOWLEDGE = 1
STATUS_DRIVER = 2
STATUS_DRIVER_OK = 4
STATUS_FEATURES_OK = 8
STATUS_DEVICE_NEEDS_RESET = 64
STATUS_FAILED = 128

# Split virtqueue flags (2.7).
VIRTQ_DESC_F_NEXT = 1
VIRTQ_DESC_F_WRITE = 2
VIRTQ_DESC_F_INDIRECT = 4
VIRTQ_AVAIL_F_NO_INTERRUPT = 1
VIRTQ_USED_F_NO_NOTIFY = 1

#: The largest queue the split ring format allows (2.7: queue size <= 32768).
MAX_QUEUE_SIZE = 32768

# Interrupt status bits (virtio-mmio InterruptStatus, virtio-pci ISR).
INTERRUPT_USED_BUFFER = 1
INTERRUPT_CONFIG_CHANGE = 2
