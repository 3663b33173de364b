"""A VM built against the model of KVM, with the handles tests need."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Iterable

from ..config import Config
from ..model.backend import ModelBackend
from ..plugins import build_manager
from ..stages import StageRunner
from ..vm import Vm


class ModelVm:
    """A model-backed VM: build it, drive exits into it, inspect what happened."""

    def __init__(self, vm: Vm, backend: ModelBackend) -> None:
        self.vm = vm
        self.backend = backend
        self.stages = StageRunner(vm.hook)
        #: (hook name, plugin name) for every hook implementation called.
        self.hook_calls: list[tuple[str, str]] = []
        self._undo_monitor = vm.pm.add_hookcall_monitoring(self._before, lambda *a: None)

    def _before(self, hook_name: str, impls: list, kwargs: dict) -> None:
        for impl in reversed(impls):
            self.hook_calls.append((hook_name, impl.plugin_name))

    @property
    def console_output(self) -> bytes:
        return self.vm.console.getvalue()  # type: ignore[attr-defined]

    def build(self) -> ModelVm:
        """Run every init stage (the VM is then ready for its first KVM_RUN)."""
        self.stages.init_all(self.vm)
        return self

    def exit(self, kind: str, vcpu: int = 0, **fields: Any) -> None:
        """Script one exit for ``vcpu`` and let vmm handle it (one KVM_RUN)."""
        self.backend.queue_exit(vcpu, kind, **fields)
        self.vm.vcpus[vcpu].step()

    def run(self) -> int:
        """Run the vCPU threads until the guest stops (scripted exits first)."""
        self.vm.start_vcpus()
        self.vm.wait()
        if self.vm.error is not None:
            raise self.vm.error
        return self.vm.exit_code

    def completed_reads(self, vcpu: int = 0) -> list[tuple[str, int, bytes]]:
        """What vmm answered to scripted reads, once the next KVM_RUN collected it."""
        state = self.backend.system.vms[-1].vcpus[vcpu]
        if state.pending_read is not None:
            kind, address, offset, size = state.pending_read
            return state.completed + [(kind, address, bytes(state.run_area[offset : offset + size]))]
        return list(state.completed)

    def ioctl_names(self) -> list[str]:
        return self.backend.names()

    def ioctl_log(self) -> list[str]:
        return [str(call) for call in self.backend.log]

    def hooks_called(self, hook_name: str) -> list[str]:
        """Plugin names whose implementation of ``hook_name`` ran, in order."""
        return [plugin for name, plugin in self.hook_calls if name == hook_name]

    def teardown(self) -> None:
        try:
            self.vm.stopping.set()
            self.stages.exit_all(self.vm)
        finally:
            self.vm.close()
            self._undo_monitor()


def make_model_vm(
    arch: str,
    *,
    workdir: Path | None = None,
    extra_plugins: Iterable[tuple[str, object]] = (),
    blocked: Iterable[str] = (),
    kernel: bytes | str | None = None,
    options: dict[str, Any] | None = None,
    validate: bool = True,
    **config_fields: Any,
) -> ModelVm:
    """Build (but don't init) a model-backed VM of ``arch``.

    :param extra_plugins: ``(name, plugin)`` pairs registered after the built-ins.
    :param kernel: kernel bytes (written to ``workdir``) or a path.
    :param options: plugin options (``config.plugin_options``).
    :param config_fields: other :class:`Config` fields (``cpus``, ``mem_mib``...).
    """
    if isinstance(kernel, (bytes, bytearray)):
        assert workdir is not None, "kernel bytes need a workdir"
        path = Path(workdir) / "kernel.img"
        path.write_bytes(kernel)
        kernel = str(path)
    config = Config(arch=arch, kernel=kernel, dry_run=True,
                    plugin_options=dict(options or {}), **config_fields)
    pm = build_manager(arch, blocked=blocked, extra=extra_plugins)
    if validate:
        pm.hook.vmm_validate_config(config=config)
    arch_model = pm.hook.vmm_kvm_model(config=config)
    if arch_model is None:
        raise RuntimeError(f"no plugin gives a model of KVM for {arch}")
    backend = ModelBackend(arch_model)
    vm = Vm(config, pm, backend, console=io.BytesIO())
    return ModelVm(vm, backend)
