"""A VM built against the model of KVM, with the handles tests need."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from pluggy import HookImpl

from vmm import hookimpl

from ..builder import NoModelError, build_vm, new_manager, virtio_host_features
from ..config import Config
from ..fdtread import FdtNode, parse_fdt
from ..model.backend import ModelBackend
from ..options import collect_option_groups, route_options
from ..plugins import PluginEntry
from ..stages import StageRunner
from ..vm import Vm
from .images import minimal_kernel

__all__ = ["DeviceTree", "GivenModel", "ModelVm", "NoModelError", "VmStoppedError", "make_model_vm"]


class GivenModel:
    """A test plugin giving ``model`` as the run's model of KVM (registered after the
    arch plugin, so asked first): ``extra_plugins=[("host", GivenModel(model))]``
    builds against another modelled host, as ``--model-host`` does from the command
    line. Each VM needs its own model instance."""

    def __init__(self, model: Any) -> None:
        self.model = model

    @hookimpl
    def vmm_kvm_model(self, config: Config) -> Any:
        """The given model."""
        return self.model


class VmStoppedError(AssertionError):
    """A test scripted an exit after the guest had already asked the VM to stop."""


class DeviceTree(NamedTuple):
    """The device tree a VM's guest gets: the DTB bytes and the parsed root node."""

    blob: bytes
    root: FdtNode


class ModelVm:
    """A model-backed VM: build it, drive exits into it, inspect what happened.

    ``vm`` is the :class:`vmm.core.vm.Vm` every hook receives; ``backend`` the model
    of KVM it talks to.
    """

    def __init__(self, vm: Vm, backend: ModelBackend) -> None:
        self.vm = vm
        self.backend = backend
        self.stages = StageRunner(vm.hook)
        #: (hook name, plugin name) for every hook implementation called.
        self.hook_calls: list[tuple[str, str]] = []
        #: (hook name, keyword arguments) for every hook call, implemented or not.
        self.hook_invocations: list[tuple[str, dict[str, Any]]] = []
        self._undo_monitor = vm.pm.add_hookcall_monitoring(self._before, lambda *a: None)
        self._torn_down = False

    def _before(self, hook_name: str, impls: Sequence[HookImpl], kwargs: Mapping[str, Any]) -> None:
        self.hook_invocations.append((hook_name, dict(kwargs)))
        for impl in reversed(impls):
            self.hook_calls.append((hook_name, impl.plugin_name))

    @property
    def arch(self) -> str:
        return self.vm.config.arch

    @property
    def console_output(self) -> bytes:
        """Everything the guest wrote to its console so far."""
        console = self.vm.console
        assert isinstance(console, io.BytesIO)  # make_model_vm's
        return console.getvalue()

    @property
    def stopped(self) -> bool:
        """True once something (the guest, a device) asked the VM to stop."""
        return self.vm.stopping.is_set()

    @property
    def exit_code(self) -> int:
        """The exit status the VM stopped with (0 while it runs)."""
        return self.vm.exit_code

    def build(self, until: str | None = None) -> ModelVm:
        """Run every init stage (the VM is then ready for its first KVM_RUN).

        :param until: stop after this stage ("core", "base", "dev"...): for tests of
            what a stage does, without the later stages' requirements.
        """
        self.stages.init_all(self.vm, until=until)
        return self

    # ------------------------------------------------------------ exits

    def exit(self, kind: str, vcpu: int = 0, **fields: Any) -> None:
        """Script one exit for ``vcpu`` and let vmm handle it (one KVM_RUN).

        ``kind`` is "io" (``port``, ``size``, ``is_write``, ``data``, ``count``),
        "mmio" (``addr``, ``size``, ``is_write``, ``data``), "system_event"
        (``type``, ``data``), "memory_fault" (``gpa``, ``size``, ``flags``), "hlt",
        "shutdown", "internal_error", or a kind of the arch's model (riscv's
        "riscv_sbi" with ``extension_id``, ``function_id``, ``args``; see its
        ``ArchModel.write_exit``).
        """
        if self.stopped:
            raise VmStoppedError(
                f"the VM already stopped with exit code {self.exit_code}; "
                f"a {kind} exit can't be delivered"
            )
        self.backend.queue_exit(vcpu, kind, **fields)
        self.vm.vcpus[vcpu].step()

    def mmio_read(self, addr: int, size: int = 4, vcpu: int = 0) -> int:
        """A guest load of ``size`` bytes at ``addr``; returns what vmm answered."""
        self.exit("mmio", vcpu, addr=addr, size=size, is_write=False)
        return self._last_read(vcpu)

    def mmio_write(self, addr: int, value: int, size: int = 4, vcpu: int = 0) -> None:
        """A guest store of ``value`` (``size`` bytes, little-endian) at ``addr``."""
        data = value.to_bytes(size, "little")
        self.exit("mmio", vcpu, addr=addr, size=size, is_write=True, data=data)

    def pio_read(self, port: int, size: int = 1, vcpu: int = 0) -> int:
        """A guest ``in`` of ``size`` bytes from ``port``; returns what vmm answered."""
        self.exit("io", vcpu, port=port, size=size, is_write=False)
        return self._last_read(vcpu)

    def pio_write(self, port: int, value: int, size: int = 1, vcpu: int = 0) -> None:
        """A guest ``out`` of ``value`` (``size`` bytes) to ``port``."""
        data = value.to_bytes(size, "little")
        self.exit("io", vcpu, port=port, size=size, is_write=True, data=data)

    def _last_read(self, vcpu: int) -> int:
        return int.from_bytes(self.completed_reads(vcpu)[-1][2], "little")

    def run(self) -> int:
        """Run the vCPU threads until the guest stops (scripted exits first)."""
        self.vm.start_vcpus()
        self.vm.wait()
        if self.vm.error is not None:
            raise self.vm.error
        return self.vm.exit_code

    # ------------------------------------------------------------ inspection

    def completed_reads(self, vcpu: int = 0) -> list[tuple[str, int, bytes]]:
        """What vmm answered to scripted reads: ``(kind, address, bytes)`` in order."""
        state = self.backend.system.vms[-1].vcpus[vcpu]
        if state.pending_read is not None:
            kind, address, offset, size = state.pending_read
            return state.completed + [(kind, address, bytes(state.run_area[offset : offset + size]))]
        return list(state.completed)

    def ioctl_names(self) -> list[str]:
        """The names of the KVM ioctls made so far, in order."""
        return self.backend.names()

    def ioctl_log(self) -> list[str]:
        """The ioctls made so far with their decoded arguments, as ``--dry-run`` prints."""
        return [str(call) for call in self.backend.log]

    def hooks_called(self, hook_name: str) -> list[str]:
        """Plugin names whose implementation of ``hook_name`` was called, in calling order.

        Only plugins that implement the hook are listed: a hook nobody implements
        for this arch gives ``[]`` (``vmm_mmio_unhandled`` on riscv: only an arm64
        layer implements it, and vmm does not even call it then; to see that no
        device claims an address, ``vm.vm.mmio.find(addr) is None``). For a
        firstresult hook every implementation that was asked is listed, also those
        after the one that answered.
        """
        return [plugin for name, plugin in self.hook_calls if name == hook_name]

    def calls(self, hook_name: str) -> list[dict[str, Any]]:
        """The keyword arguments of every call vmm made of ``hook_name``, in order,
        whether or not a plugin implements it (``calls("vmm_image_loaded")[-1]
        ["image"].kind``). A hook on a vCPU's hot path that nobody implements is
        not called at all (``vmm_mmio_unhandled``), so it has no calls here."""
        return [kwargs for name, kwargs in self.hook_invocations if name == hook_name]

    def device_tree(self) -> DeviceTree:
        """The device tree in guest memory (arm64, riscv; after the late stage): its
        bytes and the parsed root (``.root.compatible("vmm,test-exit")[0].reg()``).

        :raises LookupError: when no device tree was placed (x86, or before the late
            stage).
        """
        image = self.vm.dtb
        if image is None:
            raise LookupError(f"this {self.arch} VM has no device tree "
                              "(x86 has none; elsewhere build() through the late stage)")
        blob = self.vm.memory.read(image.guest_start, image.file_size)
        return DeviceTree(blob, parse_fdt(blob))

    def virtio_host_features(self, device: Any = None) -> int:
        """The extra virtio feature bits all plugins offer for ``device``, OR-ed.

        The same value a virtio transport adds to the device's own
        (:func:`vmm.core.builder.virtio_host_features`).
        """
        return virtio_host_features(self.vm, device)

    def teardown(self) -> None:
        """Run the exit stages of what was built and release fds and memory (once)."""
        if self._torn_down:
            return
        self._torn_down = True
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
    entries: list[PluginEntry] | None = None,
    validate: bool = True,
    **config_fields: Any,
) -> ModelVm:
    """Build (but don't init) a model-backed VM of ``arch``.

    :param arch: "x86", "arm64" or "riscv".
    :param extra_plugins: ``(name, plugin)`` pairs registered after the installed
        plugins (a module, a class instance with hookimpl methods...).
    :param blocked: names of installed plugins not to load (as ``--block``).
    :param kernel: kernel bytes (written to ``workdir``) or a path. Default: the
        arch plugin's built-in guest, else :func:`minimal_kernel` for ``arch``.
    :param options: plugin option values by destination, as on the command line
        (``{"disable_sve": True}``); each goes to the plugin that declares it.
    :param entries: the plugins to choose from instead of the installed entry
        points (to test against a stand-in arch plugin).
    :param validate: run ``vmm_validate_config`` first, as ``vmm run`` does.
    :param config_fields: other :class:`Config` fields (``cpus``, ``mem_mib``...).
    :raises ConfigError: here, at the factory call (not at ``build()``), when a plugin's
        ``vmm_validate_config`` refuses the options, as ``vmm run`` does before it
        builds anything.
        The VM is a dry run unless ``dry_run=False``: as ``vmm run --dry-run``, it
        then touches nothing on the host (disks opened read-only and not locked, no
        TAP, no memory locking); ``dry_run=False`` gives a device test the host
        effects of a real run, still against the model of KVM.
    :raises NoModelError: when no plugin gives a model of KVM for ``arch``.
    """
    if isinstance(kernel, (bytes, bytearray)):
        kernel = _write_kernel(workdir, bytes(kernel))
    config_fields.setdefault("dry_run", True)
    config_fields.setdefault("plugins_blocked", list(blocked))
    config = Config(arch=arch, kernel=kernel, **config_fields)
    pm = new_manager(config, entries=entries, extra=extra_plugins)
    groups = collect_option_groups(pm, arch)
    config.given_options = route_options(groups, options or {})
    config.bind_options(groups)
    vm = build_vm(config, pm, console=io.BytesIO(), model=True, validate=validate)
    if not (config.kernel or config.firmware or pm.hook.vmm_builtin_guest(config=config)):
        config.kernel = _write_kernel(workdir, minimal_kernel(arch))
    assert isinstance(vm.backend, ModelBackend)
    return ModelVm(vm, vm.backend)


def _write_kernel(workdir: Path | None, data: bytes) -> str:
    if workdir is None:
        raise ValueError("kernel bytes need a workdir to be written to")
    path = Path(workdir) / "kernel.img"
    path.write_bytes(data)
    return str(path)
