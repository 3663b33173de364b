"""A dry run's realm report: the RMI operations, the predicted RIM, the saved plan.

Only the model of KVM knows what the RMM was asked to do; against real KVM there is
nothing to report (the RMM measures the realm itself).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmm.core.errors import VmmError

if TYPE_CHECKING:  # pragma: no cover
    from vmm.core.vm import Vm

    from .model import RealmVm
    from .state import RealmState


def modelled_realm(vm: Vm) -> RealmVm | None:
    """The model's record of this VM's realm, when ``vm`` runs on the model backend.

    A model backend serves the one VM of a run, so its latest realm is this VM's.
    """
    from .model import RealmModel

    model = getattr(vm.backend, "arch", None)
    if isinstance(model, RealmModel) and model.realms:
        return model.realms[-1]
    return None


def report_realm(vm: Vm, state: RealmState) -> None:
    """Add the realm's RMI sequence and predicted RIM to ``vm.report``; save the plan."""
    realm = modelled_realm(vm)
    if realm is None or realm.recorder is None:
        return
    recorder = realm.recorder
    settings = state.settings
    rim = recorder.measure()
    lines = [f"Realm RMI operations ({recorder.rmm.uabi} UABI, RMM profile {recorder.rmm.label}):"]
    lines += [f"  {index:3d}. {entry}" for index, entry in enumerate(realm.rmi_log, 1)]
    if state.lock_failure:
        lines.append(f"Realm RAM not locked: {state.lock_failure}")
    lines.append(
        f"Realm initial measurement (RIM, {settings.hash_algo.label}, "
        f"RMM {recorder.rmm.label}): {rim.hex()}"
    )
    if settings.plan_out:
        try:
            recorder.save(settings.plan_out)
        except OSError as error:
            raise VmmError(
                f"cannot write the realm plan to {settings.plan_out!r}: {error.strerror}"
            ) from None
        lines.append(f"Realm plan written to {settings.plan_out}")
    vm.report.extend(lines)
