"""The realm options are validated with the series' rules, order and messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmm.core.config import Config
from vmm.core.errors import ConfigError
from vmm.core.options import collect_option_groups, route_options
from vmm.core.plugins import build_manager
from vmm.plugins.arm64_realm.options import realm_settings, vmm_validate_config
from vmm.plugins.arm64_realm.rmm import HashAlgorithm, RmmProfile


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
        ({"realm": True, "rmm": "2.0"}, "--rmm: RMM profile '2.0' is unknown (expected beta0 or "
                                        "rel0) (RMM 2.0 pairs with the v13+ host UABI"),
        ({"realm_uabi": "v7"}, "--realm-uabi valid only with --realm"),
        ({"model_rme": "v7"}, "--model-rme valid only with --realm"),
        ({"realm": True, "realm_uabi": "v8"}, "--realm-uabi 'v8' is unknown: give rfc-v1 or v7"),
        ({"realm": True, "model_rme": "rfc-v2"},
         "--model-rme 'rfc-v2' is unknown: give rfc-v1 or v7 or none"),
        # each RMM is measured only with the call sequence it shipped with
        ({"realm": True, "realm_uabi": "v7", "rmm": "beta0"},
         "--rmm beta0 is the RMM of the rfc-v1 UABI, not of --realm-uabi v7: use --rmm rel0"),
        ({"realm": True, "model_rme": "rfc-v1", "rmm": "rel0"},
         "--rmm rel0 is the RMM of the v7 UABI, not of --model-rme rfc-v1: use --rmm beta0"),
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
    assert (settings.hash_algo, settings.rpv, settings.sve_vq, settings.rmm, settings.uabi) == (
        HashAlgorithm.SHA256, None, None, None, None)
    assert settings.model_generation == "rfc-v1"
    normal = config()
    vmm_validate_config(normal)
    assert realm_settings(normal) is None


def test_values_are_encoded_as_the_kernel_takes_them() -> None:
    with_vl = config(realm=True, sve_vl=512, realm_pv="x" * 64, measurement_algo="sha512",
                     rmm="rel0")
    vmm_validate_config(with_vl)
    settings = realm_settings(with_vl)
    assert settings is not None
    assert settings.sve_vq == 3  # VL / 128 - 1
    assert settings.rpv == b"x" * 64  # raw bytes, no terminator at 64
    assert settings.hash_algo is HashAlgorithm.SHA512
    assert settings.rmm is RmmProfile.REL0
    assert settings.model_generation == "v7"  # the UABI rel0 pairs with
    assert realm_settings(config(realm=True, realm_pv="ab")).rpv == b"ab" + bytes(62)


def test_the_model_follows_the_uabi_or_rmm_asked_for() -> None:
    assert realm_settings(config(realm=True, realm_uabi="v7")).model_generation == "v7"
    assert realm_settings(config(realm=True, rmm="beta0")).model_generation == "rfc-v1"
    both = realm_settings(config(realm=True, realm_uabi="rfc-v1", model_rme="v7"))
    assert (both.uabi, both.model_generation) == ("rfc-v1", "v7")  # forcing the wrong one
    assert realm_settings(config(realm=True, model_rme="none")).model_generation == "none"
    with pytest.raises(ConfigError, match="--model-rme only makes sense with --dry-run"):
        realm_settings(config(False, realm=True, model_rme="v7"))
