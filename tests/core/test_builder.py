"""The one VM builder (vmm.core.builder): every run path builds its VM there."""

from __future__ import annotations

import io
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from vmm import hookimpl
from vmm.core import builder
from vmm.core.builder import NoModelError, build_vm, virtio_host_features
from vmm.core.config import Config
from vmm.core.errors import ConfigError
from vmm.core.model.backend import ModelBackend
from vmm.core.options import OptionGroup
from vmm.core.plugins import PluginEntry

from . import fakearch

ROOT = Path(__file__).resolve().parents[2]


class Recorder:
    """Counts the validation calls and declares one option."""

    def __init__(self) -> None:
        self.validated: list[Config] = []

    @hookimpl
    def vmm_addoption(self, group: OptionGroup) -> None:
        """One flag."""
        group.addoption("--recorded", type=bool, help="A test flag.")

    @hookimpl
    def vmm_validate_config(self, config: Config) -> None:
        """Remember the configuration."""
        self.validated.append(config)


def _config(kernel: str, **fields) -> Config:
    fields.setdefault("dry_run", True)
    return Config(arch="x86", kernel=kernel, mem_mib=16, **fields)


def test_a_dry_run_is_built_on_the_model_with_options_bound_and_validated(kernel_file) -> None:
    recorder = Recorder()
    config = _config(kernel_file, given_options={"rec": {"recorded": True}})
    vm = build_vm(config, console=io.BytesIO(), entries=fakearch.entries(),
                  extra=[("rec", recorder)])
    try:
        assert isinstance(vm.backend, ModelBackend)
        assert recorder.validated == [config]
        assert config.options_of("rec").recorded is True
        assert [name for name, _ in vm.pm.list_name_plugin()] == ["core", "fake", "rec"]
        assert vm.stash is not None and vm.vcpus == [], "built, not initialised"
    finally:
        vm.close()


def test_validation_can_be_left_out_and_a_given_manager_is_used(kernel_file) -> None:
    recorder = Recorder()
    config = _config(kernel_file)
    pm = builder.new_manager(config, entries=fakearch.entries(), extra=[("rec", recorder)])
    vm = build_vm(config, pm, console=io.BytesIO(), validate=False)
    try:
        assert vm.pm is pm
        assert recorder.validated == []
        assert config.options is not None, "options are bound even without validation"
    finally:
        vm.close()


def test_the_model_is_used_without_dry_run_when_asked(kernel_file) -> None:
    config = _config(kernel_file, dry_run=False)
    vm = build_vm(config, console=io.BytesIO(), model=True, entries=fakearch.entries())
    try:
        assert isinstance(vm.backend, ModelBackend)
        assert not config.dry_run
    finally:
        vm.close()


def test_blocked_plugins_come_from_the_config(kernel_file) -> None:
    config = _config(kernel_file, plugins_blocked=["rec"])
    vm = build_vm(config, console=io.BytesIO(), entries=fakearch.entries(),
                  extra=[("rec", Recorder())])
    try:
        assert vm.pm.get_plugin("rec") is None
    finally:
        vm.close()


def test_no_model_is_a_clear_config_error(kernel_file) -> None:
    modelless = SimpleNamespace(VMM_ARCH="x86", __name__="modelless")
    entries = [fakearch.entries()[0], PluginEntry("modelless", modelless)]  # type: ignore[arg-type]
    with pytest.raises(NoModelError, match="the x86 plugin gives no model of KVM") as raised:
        build_vm(_config(kernel_file), entries=entries)
    assert isinstance(raised.value, ConfigError)


class Offers:
    """A plugin offering fixed feature bits."""

    def __init__(self, bits: int | None) -> None:
        self.bits = bits

    @hookimpl
    def vmm_virtio_host_features(self, vm, device) -> int | None:
        """The fixed bits."""
        return self.bits


def test_virtio_host_features_are_every_plugins_bits_or_ed(make_vm) -> None:
    vm = make_vm(Offers(1 << 33), Offers(None), Offers(1 << 36 | 1 << 33))
    assert virtio_host_features(vm, device=None) == 1 << 33 | 1 << 36
    assert virtio_host_features(make_vm(), device=None) == 0


def test_the_virtio_transport_adds_the_combined_bits_to_the_devices(make_vm) -> None:
    from vmm.plugins.virtio.constants import F_VERSION_1
    from vmm.plugins.virtio.transport import host_features

    vm = make_vm(Offers(1 << 33), Offers(1 << 40))
    device = SimpleNamespace(offered_features=lambda: 1 << 5)
    assert host_features(vm, device) == 1 << 5 | 1 << 33 | 1 << 40 | 1 << F_VERSION_1


def test_only_the_builder_constructs_a_vm() -> None:
    """runner.py, testing/model_vm.py and the arm64 layer's measure run go through
    build_vm: no other module of the core or the plugins calls ``Vm(...)``."""
    constructing = [
        str(path.relative_to(ROOT))
        for folder in ("vmmcore", "plugins")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if re.search(r"(?<![\w.])Vm\(", path.read_text(encoding="utf-8"))
    ]
    assert constructing == ["vmmcore/builder.py"]


def test_only_the_builder_combines_virtio_feature_bits() -> None:
    calling = [
        str(path.relative_to(ROOT))
        for folder in ("vmmcore", "plugins")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "hook.vmm_virtio_host_features(" in path.read_text(encoding="utf-8")
    ]
    assert calling == ["vmmcore/builder.py"]
