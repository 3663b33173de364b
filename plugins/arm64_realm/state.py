"""The realm's per-VM state, kept in ``vm.stash[REALM_KEY]`` (never in core config)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vmm.core.stash import StashKey

if TYPE_CHECKING:  # pragma: no cover
    from vmm.core.vcpu import VcpuOwner
    from vmm.core.vm import Vm

    from .calls import AbortInjector
    from .options import RealmSettings


@dataclass
class RealmState:
    """What the realm layer knows about one realm VM.

    :param settings: The validated realm options.
    :param ipa_bits: The IPA width of the realm VM type (arm64's, doubled), 0 when
        KVM gave no IPA size.
    """

    settings: RealmSettings
    ipa_bits: int = 0
    #: Set once ACTIVATE_REALM succeeded: the vCPUs may run, nothing may be reset.
    active: bool = False
    #: Why realm RAM is not locked (a dry run, or a failure the model goes on from).
    lock_failure: str | None = None
    #: Per-vCPU SEA injectors, by vCPU id (built on the first unclaimed access).
    injectors: dict[int, AbortInjector] = field(default_factory=dict)


#: The stash key of the realm state; absent for a normal VM.
REALM_KEY = StashKey[RealmState]()


def realm_state(vm: VcpuOwner) -> RealmState | None:
    """The VM's realm state, or None when it is not a realm."""
    return vm.stash.get(REALM_KEY)


def start_realm_state(vm: Vm) -> RealmState | None:
    """Create the realm state from the configuration (once); None for a normal VM."""
    from .options import realm_settings

    state = vm.stash.get(REALM_KEY)
    if state is None:
        settings = realm_settings(vm.config)
        if settings is None:
            return None
        state = RealmState(settings)
        vm.stash[REALM_KEY] = state
    return state
