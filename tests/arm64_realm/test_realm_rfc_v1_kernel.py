"""RFC-v1 realms as the series' kernel really runs them (issue 15): the RTT levels of
INIT_IPA, no PMU unless asked, the realm-support probe, a legacy Image's image_size,
RMM profiles paired with their UABI, debug counts from the modelled host, and guest
RAM from hugetlbfs. Each through ``vmm run --dry-run`` as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vmm.core.config import Config
from vmm.core.options import collect_option_groups, route_options
from vmm.core.plugins import build_manager
from vmm.core.runner import run_config
from vmm.core.testing.images import arm64_image
from vmm.plugins.arm64 import uapi as arm64_uapi
from vmm.plugins.arm64.state import arm64_state
from vmm.plugins.arm64_realm.report import modelled_realm

MIB = 1 << 20


def kernel_file(tmp_path: Path, size: int = 3 * MIB, image_size: int | None = None) -> str:
    """A multi-MiB arm64 Image (its BSS to ``image_size``)."""
    path = tmp_path / "Image"
    fields = {} if image_size is None else {"image_size": image_size}
    path.write_bytes(arm64_image(code=b"\x11" * (size - 64), **fields))
    return str(path)


def dry_run(capsys, kernel: str, mem_mib: int = 256, **options) -> tuple[str, dict]:
    """``vmm run --arch arm64 --realm --dry-run --plan-out plan.json``: report and plan."""
    plan = Path(kernel).with_name("plan.json")
    groups = collect_option_groups(build_manager("arm64"))
    given = route_options(groups, {"realm": True, "plan_out": str(plan), **options})
    config = Config(arch="arm64", kernel=kernel, mem_mib=mem_mib, dry_run=True, given_options=given)
    assert run_config(config) == 0
    return capsys.readouterr().out, json.loads(plan.read_text())


def ripas_levels(plan: dict) -> set[int]:
    return {op["level"] for op in plan["ops"] if op["op"] == "ripas"}


def test_a_default_ram_realm_gets_level_3_ripas_only(capsys, tmp_path) -> None:
    """33 bits (256 MiB at 2 GiB, doubled) start the RTT at level 2; find_map_level is
    never coarser than level 3 there, however long the kernel."""
    report, plan = dry_run(capsys, kernel_file(tmp_path, image_size=5 * MIB))
    assert plan["rmm"] == "beta0" and plan["realm_params"]["s2sz"] == 33
    assert ripas_levels(plan) == {3}
    assert "1280 x RTT_INIT_RIPAS(level 3) 0x80000000..0x80500000" in report  # INIT_IPA(5 MiB)


def test_a_36_bit_realm_gets_nothing_coarser_than_level_2(capsys, tmp_path) -> None:
    """15 GiB of RAM needs 35 bits, 36 for a realm: level 1 starts its RTT, so INIT_IPA
    uses 2 MiB blocks where they fit, never 1 GiB ones."""
    _, plan = dry_run(capsys, kernel_file(tmp_path, image_size=5 * MIB), mem_mib=15 << 10)
    assert plan["realm_params"]["s2sz"] == 36
    assert ripas_levels(plan) == {2, 3}
    blocks = [op for op in plan["ops"] if op["op"] == "ripas" and op["level"] == 2]
    assert [int(op["ipa"], 16) for op in blocks] == [0x8000_0000, 0x8020_0000]


def test_no_pmu_in_a_realm_unless_asked(capsys, tmp_path) -> None:
    kernel = kernel_file(tmp_path, size=0x3040)
    for pmu in (False, True):
        config = Config(arch="arm64", kernel=kernel, dry_run=True,
                        given_options={"arm64_realm": {"realm": True}, "arm64": {"pmu": pmu}})
        assert run_config(config) == 0
        report = capsys.readouterr().out
        init = next(line for line in report.splitlines() if "vcpu0: KVM_ARM_VCPU_INIT(" in line)
        features = int(init.split("features=")[1].rstrip(")"), 16)
        assert bool(features >> arm64_uapi.KVM_ARM_VCPU_PMU_V3 & 1) is pmu
        assert ("vcpu0: KVM_SET_DEVICE_ATTR(group=0 attr=1)" in report) is pmu  # PMU init


def test_the_pmu_node_is_measured_only_with_pmu(vmm_vm, tmp_path) -> None:
    kernel = kernel_file(tmp_path, size=0x3040)
    without = vmm_vm("arm64", kernel=kernel, cpus=1, options={"realm": True}).build()
    with_pmu = vmm_vm("arm64", kernel=kernel, cpus=1, options={"realm": True, "pmu": True}).build()
    assert b"arm,armv8-pmuv3" not in arm64_state(without.vm).dtb
    assert b"arm,armv8-pmuv3" in arm64_state(with_pmu.vm).dtb
    assert modelled_realm(without.vm).recorder.measure() != modelled_realm(with_pmu.vm).recorder.measure()


def test_a_kernel_without_realm_support_is_named_not_einval(tmp_path) -> None:
    result = subprocess.run([sys.executable, "-m", "vmm", "run", "--arch", "arm64", "--realm",
                             "--dry-run", "--model-rme", "none"], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=60)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("vmm: error: this host kernel has no realm support "
                           "(KVM_CHECK_EXTENSION(KVM_CAP_ARM_RME) is 0)")
    assert "EINVAL" not in line and "machine type" not in line


def test_a_legacy_image_gets_an_empty_init_ipa(capsys, tmp_path) -> None:
    """kvmtool reads image_size from the header in guest memory: 0 for a legacy Image."""
    kernel = tmp_path / "legacy"
    kernel.write_bytes(arm64_image(code=b"\x11" * 0x3000, image_size=0))
    config = Config(arch="arm64", kernel=str(kernel), dry_run=True,
                    given_options={"arm64_realm": {"realm": True}})
    assert run_config(config) == 0
    report = capsys.readouterr().out
    assert "INIT_IPA_REALM(base=0x80080000 size=0x0)" in report  # text_offset 0x80000
    assert "POPULATE_REALM(base=0x80080000 size=0x4000)" in report


def test_every_rmm_profile_names_its_call_sequence(capsys, tmp_path) -> None:
    kernel = kernel_file(tmp_path, size=0x3040)
    for rmm, uabi, create in (("beta0", "rfc-v1", "CREATE_RD"), ("rel0", "v7", "CREATE_REALM")):
        report, plan = dry_run(capsys, kernel, rmm=rmm)
        assert f"Realm RMI operations ({uabi} UABI, RMM profile {rmm}):" in report
        assert f"KVM_ENABLE_CAP(cap=300 {create})" in report and plan["rmm"] == rmm


def test_debug_counts_come_from_the_modelled_host(capsys, tmp_path) -> None:
    kernel = kernel_file(tmp_path, size=0x3040)
    _, plan = dry_run(capsys, kernel, model_host="bps=2,wps=3")
    assert (plan["realm_params"]["num_bps"], plan["realm_params"]["num_wps"]) == (1, 2)
    _, v7_plan = dry_run(capsys, kernel, model_host="bps=2,wps=3", realm_uabi="v7")
    assert (v7_plan["realm_params"]["num_bps"], v7_plan["realm_params"]["num_wps"]) == (1, 2)


@pytest.mark.parametrize("uabi", ["rfc-v1", "v7"])
def test_a_realm_maps_its_ram_from_hugetlbfs(hugetlbfs_dir, vmm_vm, tmp_path, uabi: str) -> None:
    kernel = kernel_file(tmp_path, size=0x3040)
    vm = vmm_vm("arm64", kernel=kernel, cpus=1, mem_mib=64, hugetlbfs=hugetlbfs_dir,
                options={"realm": True, "realm_uabi": uabi}).build()
    assert vm.vm.memory.regions[0].hugetlbfs == hugetlbfs_dir
    assert modelled_realm(vm.vm).recorder.measure()
