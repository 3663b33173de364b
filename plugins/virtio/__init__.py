"""The virtio plugin: transports (MMIO, PCI) and devices, for every architecture."""
