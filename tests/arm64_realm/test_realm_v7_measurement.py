"""The RIM predicted for a v7 realm follows TF-RMM v0.8.0 (RMM 1.0 rel0) over the v7
kernel's calls: recomputed here step by step from the RMM's rules, independently of
the model's recorder, and matched by ``vmm realm measure``."""

from __future__ import annotations

from pathlib import Path

import pytest
from realm_vm import DTB, INITRD, KERNEL, RAM_START, build_realm

from vmm.core.testing.images import arm64_image
from vmm.plugins.arm64.state import arm64_state
from vmm.plugins.arm64_realm.report import modelled_realm
from vmm.plugins.arm64_realm.rmm import (
    HashAlgorithm,
    RealmMeasurement,
    RealmParams,
    RipasRangeOp,
    RmmProfile,
)

PAGE = 0x1000
MIB = 1 << 20


def pages(data: bytes, start: int, base: int, end: int) -> list[tuple[int, bytes]]:
    """The granules ``[base, end)`` of guest memory holding ``data`` at ``start``."""
    memory = bytearray(end - base)
    memory[start - base : start - base + len(data)] = data
    return [(base + offset, bytes(memory[offset : offset + PAGE])) for offset in range(0, end - base, PAGE)]


@pytest.mark.parametrize("algorithm", [HashAlgorithm.SHA256, HashAlgorithm.SHA512])
def test_the_rim_of_a_v7_realm_recomputed_from_the_rmm_rules(vmm_vm, tmp_path: Path,
                                                             algorithm: HashAlgorithm) -> None:
    vm = build_realm(vmm_vm, tmp_path, realm_uabi="v7", measurement_algo=algorithm.label,
                     realm_pv="not measured")
    dtb = arm64_state(vm.vm).dtb
    initrd_start = (DTB - len(INITRD)) & ~3
    # RMI_REALM_CREATE: rel0 measures seven parameters; 6 breakpoints and 4 watchpoints
    # are stored minus one (ID_AA64DFR0_EL1.BRPs/WRPs), no SVE, no PMU.
    rim = RealmMeasurement(RealmParams(flags=0, s2sz=33, sve_vl=0, num_bps=5, num_wps=3,
                                       pmu_num_ctrs=0, hash_algo=algorithm), RmmProfile.REL0)
    # INIT_RIPAS over the 256 MiB of RAM: only the starting level's tables exist (a
    # 33-bit RTT starts at level 2), so one call walks 128 2 MiB entries.
    entries = rim.init_ripas_range(RAM_START, RAM_START + 256 * MIB, 2)
    assert len(entries) == 128
    # POPULATE with the MEASURE flag: one measured DATA_CREATE per page of the file.
    for ipa, page in pages(KERNEL, RAM_START, RAM_START, RAM_START + 0x4000):
        rim.data_create(ipa, page, True)
    for ipa, page in pages(INITRD, initrd_start, initrd_start & ~0xFFF, DTB):
        rim.data_create(ipa, page, True)
    for ipa, page in pages(dtb, DTB, DTB, DTB + 0x10000):  # the 64 KiB window
        rim.data_create(ipa, page, True)
    # Only the runnable REC (vCPU 0: pc = kernel, x0 = DTB) is measured in RMM 1.0.
    rim.rec_create(True, RAM_START, [DTB])
    realm = modelled_realm(vm.vm)
    assert realm.recorder.measure() == rim.rim
    assert len(rim.rim) == algorithm.digest_size


def test_ram_that_ends_inside_a_2_mib_block_gets_pages_there(vmm_vm, tmp_path: Path) -> None:
    """The RMM refuses a block that passes ``top`` (RMI_ERROR_RTT at level 2); the kernel
    creates a level-3 table there (find_map_level) and the next call walks pages."""
    kernel = tmp_path / "Image"
    kernel.write_bytes(arm64_image(code=b"\x11" * 0x3000))
    vm = vmm_vm("arm64", kernel=str(kernel), cpus=1, mem_mib=255,
                options={"realm": True, "realm_uabi": "v7"})
    vm.build()
    ripas = [op for op in modelled_realm(vm.vm).recorder.plan.ops if isinstance(op, RipasRangeOp)]
    assert ripas == [RipasRangeOp(RAM_START, RAM_START + 254 * MIB, level=2),
                     RipasRangeOp(RAM_START + 254 * MIB, RAM_START + 255 * MIB, level=3)]


def test_measure_from_images_equals_the_v7_dry_run(vmm_vm, tmp_path: Path) -> None:
    import typer
    from realm_vm import write_images
    from typer.testing import CliRunner

    from vmm.plugins.arm64_realm.cli import vmm_add_commands

    vm = build_realm(vmm_vm, tmp_path, realm_uabi="v7")
    kernel, initrd = write_images(tmp_path)
    app = typer.Typer()
    vmm_add_commands(app)
    result = CliRunner().invoke(app, ["realm", "measure", "-k", kernel, "-i", initrd, "-c", "2",
                                      "--realm-uabi", "v7"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"RIM: {modelled_realm(vm.vm).recorder.measure().hex()}\n"
    rel0 = CliRunner().invoke(app, ["realm", "measure", "-k", kernel, "-i", initrd, "-c", "2",
                                    "--rmm", "rel0"])
    assert rel0.stdout == result.stdout  # rel0 pairs with v7
