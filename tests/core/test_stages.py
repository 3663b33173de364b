"""Init stages run in kvmtool's order; a failure unwinds what completed, in reverse."""

from __future__ import annotations

import pytest

from vmm import hookimpl
from vmm.core.stages import STAGES
from vmm.core.vm import run_vm


class Recorder:
    def __init__(self, fail_at: str | None = None) -> None:
        self.events: list[str] = []
        self.fail_at = fail_at
        for stage in STAGES:
            setattr(self, f"vmm_{stage}_init", self._make(stage, "init"))
            setattr(self, f"vmm_{stage}_exit", self._make(stage, "exit"))

    def _make(self, stage: str, kind: str):
        def impl(vm):
            self.events.append(f"{kind}:{stage}")
            if kind == "init" and stage == self.fail_at:
                raise RuntimeError(f"{stage} failed")

        impl.__name__ = f"vmm_{stage}_{kind}"
        return hookimpl(impl)


def test_stages_run_in_order_and_exit_in_reverse(make_vm):
    recorder = Recorder()
    vm = make_vm(recorder)
    assert run_vm(vm, start=False) == 0
    inits = [f"init:{stage}" for stage in STAGES]
    exits = [f"exit:{stage}" for stage in reversed(STAGES)]
    assert recorder.events == inits + exits


@pytest.mark.parametrize("failing", ["base", "virtio_dev", "last"])
def test_failed_stage_unwinds_completed_stages_in_reverse(make_vm, failing):
    recorder = Recorder(fail_at=failing)
    vm = make_vm(recorder)
    with pytest.raises(RuntimeError, match=f"{failing} failed"):
        run_vm(vm, start=False)
    done = list(STAGES[: STAGES.index(failing)])
    expected = [f"init:{s}" for s in done] + [f"init:{failing}"]
    expected += [f"exit:{s}" for s in reversed(done)]
    assert recorder.events == expected
    assert vm.vmfd is None and vm.kvm is None, "fds are closed after a failed init"


def test_last_stage_resets_vcpus_in_id_order_then_finalizes(make_vm):
    order: list[tuple[str, int]] = []

    class Finalizer:
        @hookimpl
        def vmm_vcpu_finalize(self, vm, vcpu):
            order.append(("finalize", vcpu.id))

    vm = make_vm(Finalizer(), cpus=3)
    run_vm(vm, start=False)
    assert order == [("finalize", 0), ("finalize", 1), ("finalize", 2)]
    names = [call.name for call in vm.backend.log]
    set_regs = [i for i, name in enumerate(names) if name == "KVM_SET_ONE_REG"]
    assert len(set_regs) == 3
