"""vmm's core: knows KVM, memory, buses, vCPUs and stages, but no CPU architecture."""

import pluggy

NAME = "vmm"
__version__ = "0.1.0"

#: Marker for hook implementations: ``@hookimpl`` on a plugin's module-level function.
hookimpl = pluggy.HookimplMarker(NAME)
