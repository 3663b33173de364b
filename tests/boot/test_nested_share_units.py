"""Fast checks of ``vmm nested --share`` and of firmware-booted hosts' payloads
(no emulated host needed)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from vmm.core.errors import ConfigError
from vmm.core.nested.cpio import CpioWriter, extract
from vmm.core.nested.forwarding import plan_forwarding
from vmm.core.nested.initscript import EXIT_MARKER, START_MARKER, init_script
from vmm.core.nested.payload import TREE_TAG, firmware_args, payload_init, write_payload
from vmm.core.nested.shares import Share, plan_shares
from vmm.core.nested.spec import FirmwareBoot

BOOT = FirmwareBoot(firmware=Path("/kit/flash.bin"), qemu_machine_args=("-M", "virt"),
                    description="a test kit")


def test_shares_get_tags_and_keep_their_resolved_path(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").symlink_to(tmp_path / "a")
    (tmp_path / "c").mkdir()
    shares = plan_shares([tmp_path / "b", tmp_path / "c"])
    assert [(s.path, s.tag) for s in shares] == [(tmp_path / "a", "share0"),
                                                 (tmp_path / "c", "share1")]


@pytest.mark.parametrize("name, message", [
    ("missing", "no such directory"), ("/", "would hide the emulated host's own /"),
    ("/usr", "would hide the emulated host's own /usr"),
])
def test_a_bad_share_is_refused(tmp_path: Path, name: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        plan_shares([tmp_path / name if not name.startswith("/") else Path(name)])


def test_a_directory_shared_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="given twice"):
        plan_shares([tmp_path, tmp_path / "."])


def test_qemu_doubles_commas_and_the_mount_quotes_spaces(tmp_path: Path) -> None:
    odd = tmp_path / "a,b c"
    odd.mkdir()
    share = plan_shares([odd])[0]
    assert share.qemu_args("virtio-9p-pci") == [
        "-fsdev", f"local,id=share0,path={tmp_path}/a,,b c,security_model=none",
        "-device", "virtio-9p-pci,fsdev=share0,mount_tag=share0"]
    assert f"mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 share0 '{odd}'" in (
        share.mount_command())


def test_files_in_a_share_are_used_in_place(tmp_path: Path) -> None:
    inside, outside = tmp_path / "shared" / "Image", tmp_path / "initrd"
    inside.parent.mkdir()
    for path in (inside, outside):
        path.write_bytes(b"x")
    plan = plan_forwarding(["run", "-k", str(inside), "-i", str(outside)],
                           plan_shares([inside.parent]))
    assert plan.args == ["run", "-k", str(inside), "-i", "/nested/files/0/initrd"]
    assert list(plan.files) == [outside]


def test_l1_mounts_the_shares_before_the_inner_command_starts() -> None:
    share = Share(Path("/data"), "share0")
    script = init_script(["--version"], ["9p"], mounts=(share.mount_command(),))
    assert script.index("mount -t 9p") < script.index(START_MARKER)
    assert script.index("insmod") < script.index("mount -t 9p")


def test_cpio_extract_restores_files_links_and_modes(tmp_path: Path) -> None:
    archive = tmp_path / "a.cpio"
    with open(archive, "wb") as stream:
        writer = CpioWriter(stream)
        writer.add_directory("usr")
        writer.add_bytes("usr/tool", b"#!/bin/sh\n", 0o755)
        writer.add_symlink("bin", "usr")
        writer.add_char_device("console", 5, 1)
        writer.add_directory("nested")
        writer.add_bytes("nested/kvm.ko", b"module")
        writer.close()
    extract(archive, tmp_path / "root", skip=("nested",))
    root = tmp_path / "root"
    assert (root / "usr" / "tool").read_bytes() == b"#!/bin/sh\n"
    assert stat.S_IMODE((root / "usr" / "tool").stat().st_mode) == 0o755
    assert os.readlink(root / "bin") == "usr"
    assert not (root / "console").exists() and not (root / "nested").exists()


def test_cpio_extract_refuses_what_is_not_an_archive(tmp_path: Path) -> None:
    bad = tmp_path / "bad.cpio"
    bad.write_bytes(b"x" * 200)
    with pytest.raises(ValueError, match="not a newc cpio archive"):
        extract(bad, tmp_path / "root")


def test_the_payload_holds_its_init_and_the_forwarded_files(tmp_path: Path) -> None:
    kernel = tmp_path / "Image"
    kernel.write_bytes(b"kernel")
    plan = plan_forwarding(["run", "-k", str(kernel)])
    payload = tmp_path / "payload"
    write_payload(payload, plan, ("python3", "-m", "vmm"), BOOT, ())
    assert (payload / "files" / "0" / "Image").read_bytes() == b"kernel"
    init = (payload / "init").read_text()
    assert os.access(payload / "init", os.X_OK)
    assert f"mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro,cache=loose {TREE_TAG}" in init
    assert "python3 -m vmm run -k /nested/files/0/Image" in init
    assert init.index(START_MARKER) < init.index(EXIT_MARKER)
    assert "poweroff" not in init  # the host's own init powers off


def test_the_firmware_boots_with_the_tree_and_payload_read_only(tmp_path: Path) -> None:
    args = firmware_args(BOOT, tmp_path / "tree", tmp_path / "payload", "virtio-9p-pci")
    assert args[:2] == ["-bios", "/kit/flash.bin"]
    fsdevs = [args[i + 1] for i, a in enumerate(args) if a == "-fsdev"]
    assert all(f.endswith("readonly=on") for f in fsdevs) and len(fsdevs) == 2
    assert "mount_tag=vmm" in " ".join(args) and f"mount_tag={TREE_TAG}" in " ".join(args)
    assert payload_init([], ("sh",), BOOT, ()).startswith("#!/bin/sh\n")


def test_nested_help_lists_share_and_the_plugins_options() -> None:
    result = subprocess.run([sys.executable, "-m", "vmm", "nested", "--help"],
                            capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0
    for option in ("--share", "--rme", "--cca-kit", "arm64_realm options"):
        assert option in result.stdout, option


def test_pruning_spares_a_tree_a_run_still_uses(tmp_path: Path) -> None:
    from vmm.core.nested import cache

    old, new = tmp_path / "tree-old", tmp_path / "tree-new"
    for tree in (old, new):
        tree.mkdir()
    with cache.in_use(old):
        cache.prune_siblings(new, "tree-*")
        assert old.is_dir()
    cache.prune_siblings(new, "tree-*")
    assert not old.exists() and new.is_dir()
    assert [p.name for p in tmp_path.iterdir()] == ["tree-new"]
