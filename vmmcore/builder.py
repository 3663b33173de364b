"""The one way a VM is built: plugins, options, validation, backend, :class:`Vm`.

``vmm run`` (:mod:`vmm.core.runner`), the tests' model VMs
(:mod:`vmm.core.testing.model_vm`) and a layer's in-process dry runs (a layer's
measurement command) all build their VM here, so they get the same plugins in the
same order, the same option namespaces and the same ``vmm_validate_config`` checks.
What is built is not yet initialised: :func:`vmm.core.vm.run_vm` (or a test's
``StageRunner``) runs the stages.

This module also owns how the results of hooks that every plugin answers are
combined (:func:`virtio_host_features`), so a transport and a test read the same
value.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, BinaryIO

from .config import Config
from .errors import ConfigError

if TYPE_CHECKING:
    import pluggy

    from .contracts import VirtioDevice
    from .kvm.seam import Backend
    from .plugins import PluginEntry
    from .vm import Vm


class NoModelError(ConfigError):
    """The plugins give no model of KVM (``vmm_kvm_model``), so the VM can't be
    built against one (``--dry-run``, tests' model VMs)."""


def new_manager(config: Config, *, entries: list[PluginEntry] | None = None,
                extra: Iterable[tuple[str, object]] = ()) -> pluggy.PluginManager:
    """The plugin manager for ``config``'s arch without its blocked plugins.

    :param entries: the plugins to choose from (default: the installed entry points).
    :param extra: ``(name, plugin)`` pairs registered last (tests' plugins).
    """
    from .plugins import build_manager

    return build_manager(config.arch, blocked=config.plugins_blocked, entries=entries,
                         extra=extra)


def model_backend(config: Config, pm: pluggy.PluginManager) -> Backend:
    """A backend on the plugins' model of KVM (``vmm_kvm_model``).

    :raises NoModelError: when no plugin gives one.
    """
    from .model.backend import ModelBackend

    arch_model = pm.hook.vmm_kvm_model(config=config)
    if arch_model is None:
        raise NoModelError(f"the {config.arch} plugin gives no model of KVM (vmm_kvm_model); "
                           "--dry-run is unavailable")
    return ModelBackend(arch_model)


def build_vm(config: Config, pm: pluggy.PluginManager | None = None, *, console: BinaryIO | None = None,
             model: bool | None = None, validate: bool = True,
             entries: list[PluginEntry] | None = None,
             extra: Iterable[tuple[str, object]] = ()) -> Vm:
    """The :class:`Vm` ``config`` describes, its stages not yet run.

    :param pm: a plugin manager already built for ``config.arch`` and
        ``config.plugins_blocked`` (the CLI builds one to collect the options);
        default: :func:`new_manager` with ``entries`` and ``extra``.
    :param console: where the guest's console goes (default: stdout).
    :param model: build against the model of KVM (True) or the host's /dev/kvm
        (False); default: the model only for ``--dry-run``.
    :param validate: run ``vmm_validate_config``, as ``vmm run`` does.
    :raises NoModelError: when the model is wanted and no plugin gives one.

    The plugins' options are bound here unless they were bound for ``pm`` already.
    """
    from .vm import Vm

    if pm is None:
        pm = new_manager(config, entries=entries, extra=extra)
    if config.options is None:
        from .options import collect_option_groups

        config.bind_options(collect_option_groups(pm, config.arch))
    if validate:
        pm.hook.vmm_validate_config(config=config, pluginmanager=pm)
    if model is None:
        model = config.dry_run
    backend = model_backend(config, pm) if model else _host_backend()
    return Vm(config, pm, backend, console=console)


def _host_backend() -> Backend:
    from .kvm.host import HostBackend

    return HostBackend()


def virtio_host_features(vm: Vm, device: VirtioDevice | None) -> int:
    """The extra virtio feature bits every plugin offers for ``device``
    (``vmm_virtio_host_features``), OR-ed; a plugin answering None offers none."""
    bits = 0
    for result in vm.hook.vmm_virtio_host_features(vm=vm, device=device):
        bits |= int(result or 0)
    return bits
