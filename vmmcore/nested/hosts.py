"""Ask the installed plugins for an architecture's :class:`EmulatedHost`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vmm.core.nested.spec import EmulatedHost

if TYPE_CHECKING:
    from vmm.core.options import OptionGroup


def nested_option_groups() -> list[OptionGroup]:
    """The options plugins add to ``vmm nested`` (``vmm_nested_addoption``), one group
    per plugin, from every installed plugin."""
    from vmm.core.options import collect_option_groups
    from vmm.core.plugins import catalogue

    return collect_option_groups(catalogue("vmm_nested_addoption"), hook="vmm_nested_addoption")


def find_emulated_host(arch: str, options: dict[str, Any] | None = None) -> EmulatedHost | None:
    """Return the emulated host the installed plugins describe for ``arch``, or None.

    Every installed plugin is asked (the ``vmm`` entry points, through the plugin
    manager of :func:`vmm.core.plugins.catalogue`), whatever ``--arch`` the inner
    ``vmm`` will get: a host plugin need not be an arch plugin.

    :param options: values of the plugins' ``vmm nested`` options, by destination.
    """
    from vmm.core.plugins import catalogue

    result: EmulatedHost | None = catalogue("vmm_emulated_host").hook.vmm_emulated_host(
        arch=arch, options=dict(options or {}))
    return result
