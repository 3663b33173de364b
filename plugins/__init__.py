"""vmm's built-in plugins: one package per architecture, its layers, and virtio."""
