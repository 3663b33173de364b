"""The realm options are validated with the series' rules, order and messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmm.plugins.arm64_realm.options import realm_settings, vmm_validate_config
from vmm.plugins.arm64_realm.rmm import HashAlgorithm, RmmProfile
from vmm.core.config import Config
from vmm.core.errors import ConfigError
from vmm.core.options import collect_option_groups, route_options
from vmm.core.plugins import build_manager


def config(dry_run: bool = True, **options) -> Config:
    """An arm64 configuration with these option values, bound as for ``vmm run``."""
    groups = collect_option_groups(build_manager("arm64"))
    result = Config(arch="arm64", dry_run=dry_run, given_options=route_options(groups, options))
    result.bind_options(groups)
    return result


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"measurement_algo": "sha256"}, "--measurement-algo valid only with --realm"),
        ({"realm_pv": "x"}, "--realm-pv valid only with --realm"),
        ({"sve_vl": 256}, "--sve-vl valid only with --realm"),
        ({"rmm": "rel0"}, "--rmm valid only with --realm"),
        ({"plan_out": "plan.json"}, "--plan-out valid only with --realm"),
        # kvmtool checks the algorithm first, then SVE, then the RPV
        ({"realm": True, "measurement_algo": "SHA256", "sve_vl": 100, "realm_pv": "x" * 65},
         "unknown realm measurement algorithm 'SHA256': use sha256 or sha512"),
        ({"realm": True, "sve_vl": 256, "disable_sve": True},
         "SVE VL requested when SVE is disabled"),
        ({"realm": True, "sve_vl": 200, "realm_pv": "x" * 65}, "SVE VL is not aligned to 128bit"),
        ({"realm": True, "sve_vl": 4096}, "--sve-vl 4096 is out of range"),
        ({"realm": True, "realm_pv": "x" * 65},
         "Invalid size for Realm Personalization Value: --realm-pv is 65 bytes, give at most 64"),
        ({"realm": True, "realm_pv": "é" * 33},
         "Invalid size for Realm Personalization Value: --realm-pv is 66 bytes"),
        ({"realm": True, "rmm": "1.0"}, "--rmm: RMM profile '1.0' is unknown"),
    ],
)
def test_each_bad_combination_is_refused_with_its_message(options: dict, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        vmm_validate_config(config(**options))
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_plan_out_needs_a_dry_run_and_an_existing_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--plan-out needs --dry-run"):
        realm_settings(config(False, realm=True, plan_out=str(tmp_path / "p.json")))
    with pytest.raises(ConfigError, match="does not exist"):
        realm_settings(config(realm=True, plan_out=str(tmp_path / "no" / "p.json")))
    assert realm_settings(config(realm=True, plan_out=str(tmp_path / "p.json"))).plan_out


def test_defaults_and_no_write_to_arm64s_options() -> None:
    realm = config(realm=True)
    vmm_validate_config(realm)
    assert realm.options_of("arm64").disable_sve is False  # SVE is off through vmm_arm64_sve
    settings = realm_settings(realm)
    assert settings is not None
    assert (settings.hash_algo, settings.rpv, settings.sve_vq, settings.rmm) == (
        HashAlgorithm.SHA256, None, None, RmmProfile.BETA0)
    normal = config()
    vmm_validate_config(normal)
    assert realm_settings(normal) is None


def test_values_are_encoded_as_the_kernel_takes_them() -> None:
    with_vl = config(realm=True, sve_vl=512, realm_pv="x" * 64, measurement_algo="sha512",
                     rmm="2.0")
    vmm_validate_config(with_vl)
    settings = realm_settings(with_vl)
    assert settings is not None
    assert settings.sve_vq == 3  # VL / 128 - 1
    assert settings.rpv == b"x" * 64  # raw bytes, no terminator at 64
    assert settings.hash_algo is HashAlgorithm.SHA512
    assert settings.rmm is RmmProfile.V2_0
    assert realm_settings(config(realm=True, realm_pv="ab")).rpv == b"ab" + bytes(62)
