"""vmm: a KVM virtual machine monitor whose every CPU architecture is a pluggy plugin.

The one installed package. Its parts keep the repository layout of the design card:
``vmm.core`` is the folder ``vmmcore/`` (no architecture knowledge), ``vmm.plugins``
is ``plugins/`` (x86, arm64, arm64_realm, riscv, virtio) and ``vmm.hookspecs`` is
``hookspecs.py`` (the plugin contract). In the repository they are symbolic links, so
an editable install is a plain path entry (no import hook) and a wheel holds real files.

A plugin marks its hook implementations with :data:`hookimpl`::

    from vmm import hookimpl

    @hookimpl
    def vmm_addoption(group): ...
"""

import pluggy

#: The project's one name: the distribution, this package, the pluggy project of
#: every hook and marker, and the entry-point group plugins are found through.
NAME = "vmm"
__version__ = "0.1.0"

#: Marker for hook implementations: ``@hookimpl`` on a plugin's module-level function.
hookimpl = pluggy.HookimplMarker(NAME)
