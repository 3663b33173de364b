"""Fast checks of ``vmm nested``'s pieces (no emulated host needed)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from vmm.core.errors import ConfigError
from vmm.core.nested.apt import find_debian_mirror, natural_key
from vmm.core.nested.console import ConsoleRelay
from vmm.core.nested.cpio import CpioWriter
from vmm.core.nested.forwarding import plan_forwarding
from vmm.core.nested.hosts import find_emulated_host
from vmm.core.nested.initscript import EXIT_MARKER, START_MARKER, init_script


def read_cpio(data: bytes) -> dict[str, tuple[int, bytes]]:
    """Parse a newc archive into {name: (mode, contents)}."""
    entries, offset = {}, 0
    while True:
        header = data[offset: offset + 110]
        assert header[:6] == b"070701"
        fields = [int(header[6 + 8 * i: 14 + 8 * i], 16) for i in range(13)]
        mode, size, name_size = fields[1], fields[6], fields[11]
        name_start = offset + 110
        name = data[name_start: name_start + name_size - 1].decode()
        body = name_start + name_size + (-(110 + name_size) % 4)
        if name == "TRAILER!!!":
            assert (body % 512) == 0 or len(data) % 512 == 0
            return entries
        entries[name] = (mode, data[body: body + size])
        offset = body + size + (-size % 4)


def test_cpio_round_trip(tmp_path: Path) -> None:
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    (tmp_path / "tree" / "sub" / "file").write_bytes(b"abc")
    (tmp_path / "tree" / "link").symlink_to("sub/file")
    stream = io.BytesIO()
    writer = CpioWriter(stream)
    writer.add_char_device("console", 5, 1)
    writer.add_tree(tmp_path / "tree")
    writer.add_bytes("init", b"#!/bin/sh\n", 0o755)
    writer.close()
    assert len(stream.getvalue()) % 512 == 0
    entries = read_cpio(stream.getvalue())
    assert entries["sub/file"] == (0o100644, b"abc")
    assert entries["link"] == (0o120777, b"sub/file")
    assert entries["init"][0] == 0o100755
    assert entries["sub"][0] & 0o170000 == 0o040000


def test_console_relay_hides_boot_and_swallows_the_exit_marker() -> None:
    shown: list[str] = []
    relay = ConsoleRelay(shown.append)
    for chunk in (b"[ 1.0] booting\r\n", START_MARKER.encode() + b"\r\nguest says hi\r\n",
                  b"prompt> ", b"\r\n\r\n" + EXIT_MARKER.encode(), b"5\r\n[ 9.0] Power down\r\n"):
        relay.feed(chunk)
    relay.finish()
    assert "".join(shown) == "guest says hi\nprompt> \n"
    assert relay.exit_status == 5


def test_console_relay_keeps_the_boot_log_for_errors() -> None:
    relay = ConsoleRelay(lambda text: None)
    relay.feed(b"Kernel panic - not syncing\r\n")
    relay.finish()
    assert relay.exit_status is None and list(relay.tail) == ["Kernel panic - not syncing"]


def test_console_relay_tail_joins_a_line_that_came_in_pieces() -> None:
    shown: list[str] = []
    relay = ConsoleRelay(shown.append)
    for chunk in (START_MARKER.encode() + b"\r\ns", b"pinning", b"-forever\r\nnext\r\n"):
        relay.feed(chunk)
    relay.finish()
    assert "".join(shown) == "spinning-forever\nnext\n"
    assert list(relay.tail) == ["spinning-forever", "next"]


def test_forwarding_rewrites_files_and_disks(tmp_path: Path) -> None:
    kernel, disk, other = tmp_path / "Image", tmp_path / "disk.img", tmp_path / "x.json"
    for path in (kernel, disk, other):
        path.write_bytes(b"x")
    plan = plan_forwarding(["run", "-k", str(kernel), "--disk", f"{disk},ro",
                            f"--initrd={kernel}", "-p", "console=ttyS0", str(other)])
    assert plan.args == ["run", "-k", "/nested/files/0/Image", "--disk", "/dev/vda,ro",
                         "--initrd=/nested/files/0/Image", "-p", "console=ttyS0",
                         "/nested/files/1/x.json"]
    assert [d.readonly for d in plan.disks] == [True]


def test_forwarding_refuses_a_missing_kernel(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        plan_forwarding(["run", "-k", str(tmp_path / "absent")])


def test_init_script_quotes_arguments() -> None:
    script = init_script(["run", "-p", "console=ttyS0 quiet", "it's"], ["kvm"])
    assert "python3 -m vmm run -p 'console=ttyS0 quiet' 'it'\"'\"'s'" in script
    assert "insmod /nested/modules/$module.ko" in script and "for module in kvm;" in script


@pytest.mark.parametrize("arch", ["x86", "arm64", "riscv"])
def test_each_arch_plugin_describes_its_emulated_host(arch: str) -> None:
    host = find_emulated_host(arch)
    assert host is not None and host.arch == arch


def test_an_unknown_arch_has_no_emulated_host() -> None:
    assert find_emulated_host("sparc") is None


def test_kernel_versions_sort_numerically() -> None:
    names = ["linux-image-6.1.0-50-amd64", "linux-image-6.12.9+deb12-amd64",
             "linux-image-6.12.10+deb12-amd64"]
    assert sorted(names, key=natural_key)[-1] == "linux-image-6.12.10+deb12-amd64"


def test_the_mirror_comes_from_deb822_sources(tmp_path: Path) -> None:
    sources = tmp_path / "debian.sources"
    sources.write_text("Types: deb\nURIs: http://mirror.example/debian\n"
                       "Suites: bookworm bookworm-updates\nComponents: main\n")
    mirror = find_debian_mirror((sources,))
    assert (mirror.uri, mirror.system_suite) == ("http://mirror.example/debian", "bookworm")


def test_the_project_part_carries_the_console_scripts(tmp_path: Path) -> None:
    """L1 runs ``vmm`` and ``vmm-lkvm`` by name (kvm-unit-tests: KVMTOOL=vmm-lkvm)."""
    import subprocess
    import sys

    from vmm.core.nested import pydeps

    scripts = pydeps.console_scripts(pydeps.project_metadata()[1])
    assert scripts["vmm"] == "vmm.core.cli:main"
    assert scripts["vmm-lkvm"] == "vmm.core.lkvm:main"
    bindir = tmp_path / "usr" / "bin"
    pydeps.install_project(tmp_path / "site", bindir)
    launcher = bindir / "vmm-lkvm"
    assert launcher.read_text().startswith("#!/usr/bin/python3\n")
    assert launcher.stat().st_mode & 0o111
    # the launcher's Python text runs here too (the shebang is L1's interpreter)
    result = subprocess.run([sys.executable, str(launcher), "version"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("kvm tool vmm-")



def test_init_script_makes_udevs_fd_links() -> None:
    """bash's process substitution and ``tee /dev/stderr`` (kvm-unit-tests) need them."""
    script = init_script(["--version"], [])
    for link, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        assert f"ln -s {target} /dev/{link}" in script
