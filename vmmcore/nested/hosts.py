"""Ask the installed plugins for an architecture's :class:`EmulatedHost`."""

from __future__ import annotations

from vmm.core.nested.spec import EmulatedHost


def find_emulated_host(arch: str) -> EmulatedHost | None:
    """Return the emulated host the installed plugins describe for ``arch``, or None.

    Every installed plugin is asked (the ``vmm`` entry points, through the plugin
    manager of :func:`vmm.core.plugins.catalogue`), whatever ``--arch`` the inner
    ``vmm`` will get: a host plugin need not be an arch plugin.
    """
    from vmm.core.plugins import catalogue

    result: EmulatedHost | None = catalogue("vmm_emulated_host").hook.vmm_emulated_host(arch=arch)
    return result
