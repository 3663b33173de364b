"""vmm's core (``vmm.core``): knows KVM, memory, buses, vCPUs and stages, but no CPU
architecture. The project's name, version and hook marker live in :mod:`vmm`."""
