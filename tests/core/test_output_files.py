"""Options naming a file vmm writes (``--dtb-out``): checked before the VM is built,
written with a one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmm.core.errors import ConfigError
from vmm.core.options import check_output_file, write_output_file


def test_an_output_file_in_an_existing_directory_passes(tmp_path: Path) -> None:
    check_output_file("--dtb-out", str(tmp_path / "out.dtb"))
    check_output_file("--dtb-out", None)  # not given


@pytest.mark.parametrize("name, message", [
    ("missing/out.dtb", "--dtb-out '.*missing/out.dtb': directory '.*missing' does not exist"),
    (".", "--dtb-out '.*' is a directory; give a file name"),
])
def test_a_bad_output_path_is_one_line(tmp_path: Path, name: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_output_file("--dtb-out", str(tmp_path / name))


def test_the_file_is_written(tmp_path: Path) -> None:
    out = tmp_path / "out.dtb"
    write_output_file("--dtb-out", str(out), b"\xd0\x0d\xfe\xed")
    assert out.read_bytes() == b"\xd0\x0d\xfe\xed"
    write_output_file("--dtb-out", "", b"ignored")


def test_a_failed_write_is_one_line() -> None:
    with pytest.raises(ConfigError, match=r"--dtb-out '/dev/full': can't write it \(No space"):
        write_output_file("--dtb-out", "/dev/full", b"x" * 65536)
