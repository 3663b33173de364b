"""The arm64 plugin's own hooks, for the layers registered after it.

arm64 adds them through ``vmm_addhooks`` when it is registered; they follow the
conventions of ``vmm.hookspecs`` (``tests/test_hookspecs.py`` checks them too). A
layer changes what arm64 does by implementing these, never by writing arm64's
options or state.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from vmm import hookimpl
from vmm.hookspecs import hookspec

if TYPE_CHECKING:
    import pluggy

    from vmm.core.vm import Vm


@hookspec(firstresult=True)
def vmm_arm64_sve(vm: Vm) -> bool | None:
    """Say whether the vCPUs get SVE, when KVM offers it (KVM_CAP_ARM_SVE).

    Called once, when the first vCPU is initialised (KVM_ARM_VCPU_INIT's features
    are the same for every vCPU). arm64's own answer is "unless ``--disable-sve``";
    a layer, registered later, answers first when its VMs need another rule.

    Stops at first non-None result.

    :param vm: The VM being built.
    """


@hookimpl
def vmm_addhooks(pluginmanager: pluggy.PluginManager) -> None:
    """Add arm64's hookspecs (this module's)."""
    pluginmanager.add_hookspecs(sys.modules[__name__])
