"""Each plugin reads its options from a read-only namespace of its own, bound from
its declarations once the run's plugins are known (issue 14, item 3)."""

from __future__ import annotations

import pytest

from vmm.core.config import Config
from vmm.core.errors import ConfigError
from vmm.core.options import (
    OptionGroup,
    OptionValues,
    bind_options,
    collect_option_groups,
    route_options,
)
from vmm.core.plugins import build_manager


def _groups() -> list[OptionGroup]:
    mydev = OptionGroup("mydev")
    mydev.addoption("--mydev-addr", metavar="ADDR")
    mydev.addoption("--mydev-verbose", type=bool)
    other = OptionGroup("other")
    other.addoption("--other-mode", choices=("a", "b"), default="a")
    return [mydev, other]


def test_every_declared_option_is_bound_with_its_default() -> None:
    bound = bind_options({"mydev": {"mydev_addr": "0x1000"}}, _groups(), "x86")
    assert bound["mydev"] == OptionValues("mydev", {"mydev_addr": "0x1000", "mydev_verbose": False})
    assert bound["other"].other_mode == "a"


def test_options_are_read_only_and_undeclared_ones_are_refused() -> None:
    values = bind_options({}, _groups(), "x86")["mydev"]
    with pytest.raises(AttributeError, match="read-only"):
        values.mydev_verbose = True
    with pytest.raises(AttributeError, match="plugin 'mydev' has no option 'aarch32'"):
        values.aarch32  # noqa: B018


def test_a_value_for_an_unknown_option_or_plugin_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="plugin 'mydev' has no option 'colour'"):
        bind_options({"mydev": {"colour": "red"}}, _groups(), "x86")
    with pytest.raises(ConfigError, match="--irqchip: an option of plugin 'riscv', which is "
                                          "not loaded for --arch x86"):
        bind_options({"riscv": {"irqchip": "plic"}}, _groups(), "x86")


def test_command_line_values_are_routed_to_the_plugin_declaring_them() -> None:
    assert route_options(_groups(), {"mydev_verbose": True, "other_mode": "b"}) == {
        "mydev": {"mydev_verbose": True}, "other": {"other_mode": "b"}}
    with pytest.raises(ConfigError, match="--nothing: no plugin loaded"):
        route_options(_groups(), {"nothing": 1})


def test_options_are_read_once_bound() -> None:
    config = Config(arch="x86", given_options={"virtio": {"rng": True}})
    with pytest.raises(RuntimeError, match="before they were bound"):
        config.options_of("virtio")
    config.bind_options(collect_option_groups(build_manager("x86")))
    assert config.options_of("virtio").rng is True
    assert config.options_of("virtio").disk is None
    assert config.options_of("x86").as_dict() == {"flat": False}  # its one option's default


def test_the_builtin_guest_comes_from_the_arch_plugin(vmm_arch: str) -> None:
    pm = build_manager(vmm_arch)
    path = pm.hook.vmm_builtin_guest(config=Config(arch=vmm_arch))
    assert path and path.endswith(".bin")
