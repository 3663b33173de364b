"""PCI for virtio: a host bridge, configuration access (CF8/CFC or ECAM), virtio-pci."""
