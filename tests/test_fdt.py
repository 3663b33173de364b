"""The generic FDT writer: structure checked by dtc, refusals, determinism."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vmm.core.fdt import FDT_MAGIC, FdtBuilder, FdtError
from vmm.core.testing import skip_or_fail


def decompile(blob: bytes, tmp_path) -> str:
    """Decompile a DTB with dtc (skips, or fails in CI, without dtc)."""
    dtc = shutil.which("dtc")
    if dtc is None:
        skip_or_fail("dtc is not installed (Debian package device-tree-compiler)")
    path = tmp_path / "tree.dtb"
    path.write_bytes(blob)
    result = subprocess.run(
        [dtc, "-I", "dtb", "-O", "dts", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr
    # dtc versions differ in leading zeros and separators: keep one spelling.
    text = re.sub(r"0x0+([0-9a-f])", r"0x\1", result.stdout)
    return text.replace("/memreserve/\t", "/memreserve/ ")


def sample_tree() -> bytes:
    """A small tree using every property kind, a reservation and a phandle."""
    fdt = FdtBuilder()
    fdt.add_reservation(0x8000_0000, 0x1000)
    fdt.begin_node("")
    fdt.property_u32("#address-cells", 2)
    fdt.property_u32("#size-cells", 2)
    fdt.property_string("model", "test board")
    fdt.property_string_list("compatible", ["vendor,board", "generic-board"])
    gic = fdt.allocate_phandle()
    fdt.property_u32("interrupt-parent", gic)
    fdt.property("raw", b"\x01\x02\x03")
    with fdt.node("intc@8000000"):
        fdt.property_phandle(gic)
        fdt.property_empty("interrupt-controller")
        fdt.property_u32("#interrupt-cells", 3)
        fdt.property_u32("#address-cells", 0)
        fdt.property_cells("reg", [0, 0x0800_0000, 0, 0x1_0000])
    with fdt.node("memory@80000000"):
        fdt.property_string("device_type", "memory")
        fdt.property_cells("reg", [0, 0x8000_0000, 0, 0x1000_0000])
    with fdt.node("chosen"):
        fdt.property_u64("linux,initrd-start", 0x8800_0000)
        fdt.property_string("bootargs", "console=ttyS0 quiet")
    fdt.end_node()
    return fdt.finish()


def test_dtc_reads_every_property_kind(tmp_path):
    dts = decompile(sample_tree(), tmp_path)
    assert "/memreserve/ 0x80000000 0x1000;" in dts
    assert 'model = "test board";' in dts
    assert 'compatible = "vendor,board\\0generic-board";' in dts
    assert "interrupt-controller;" in dts
    assert "phandle = <0x1>;" in dts
    assert "interrupt-parent = <0x1>;" in dts
    assert "reg = <0x0 0x80000000 0x0 0x10000000>;" in dts
    assert "linux,initrd-start = <0x0 0x88000000>;" in dts
    assert 'bootargs = "console=ttyS0 quiet";' in dts
    assert "raw = [01 02 03];" in dts
    assert "memory@80000000 {" in dts and "chosen {" in dts


def test_header_is_version_17_and_sizes_add_up():
    blob = sample_tree()
    magic, total, off_struct, off_strings, off_rsv, version, last, _, size_strings, size_struct = (
        struct.unpack_from(">10I", blob)
    )
    assert magic == FDT_MAGIC
    assert (version, last) == (17, 16)
    assert total == len(blob)
    assert off_rsv % 8 == 0 and off_struct % 4 == 0
    assert off_struct + size_struct == off_strings
    assert off_strings + size_strings == total


def test_same_calls_give_same_bytes():
    assert sample_tree() == sample_tree()


def test_property_names_are_stored_once():
    blob = sample_tree()
    assert blob.count(b"reg\0") == 1


@pytest.mark.parametrize(
    "steps, message",
    [
        (lambda f: f.property_u32("x", 1), "outside of any node"),
        (lambda f: f.end_node(), "without a matching begin_node"),
        (lambda f: f.begin_node("cpus"), "must be the root"),
        (lambda f: (f.begin_node(""), f.end_node(), f.begin_node("")), "after the root"),
        (lambda f: (f.begin_node(""), f.end_node(), f.property_u32("x", 1)), "outside"),
        (lambda f: (f.begin_node(""), f.property_u32("x", 1), f.property_u32("x", 2)),
         "duplicate property"),
        (lambda f: (f.begin_node(""), f.begin_node("a"), f.end_node(), f.begin_node("a")),
         "duplicate node"),
        (lambda f: (f.begin_node(""), f.begin_node("bad/name")), "invalid node name"),
        (lambda f: (f.begin_node(""), f.begin_node("")), "invalid node name"),
        (lambda f: (f.begin_node(""), f.property_u32("x", 1 << 32)), "32 bits"),
        (lambda f: (f.begin_node(""), f.property_cells("x", [-1])), "32 bits"),
        (lambda f: (f.begin_node(""), f.property_u64("x", 1 << 64)), "64 bits"),
        (lambda f: (f.begin_node(""), f.property_string("x", "a\0b")), "NUL"),
        (lambda f: (f.begin_node(""), f.property_phandle(7)), "not allocated"),
        (lambda f: (f.begin_node(""), f.begin_node("a"), f.end_node(), f.property_empty("x")),
         "properties come first"),
        (lambda f: f.add_reservation(0x1000, 0), "reservation"),
    ],
)
def test_refuses_malformed_trees(steps, message):
    with pytest.raises(FdtError, match=message):
        steps(FdtBuilder())


def test_finish_refuses_open_nodes_and_empty_trees():
    fdt = FdtBuilder()
    with pytest.raises(FdtError, match="without a root"):
        fdt.finish()
    fdt.begin_node("")
    fdt.begin_node("cpus")
    with pytest.raises(FdtError, match="/cpus still open"):
        fdt.finish()


def test_no_calls_after_finish():
    fdt = FdtBuilder()
    fdt.begin_node("")
    fdt.end_node()
    fdt.finish()
    with pytest.raises(FdtError, match="already finished"):
        fdt.begin_node("")


def test_phandles_are_unique_and_nonzero():
    fdt = FdtBuilder()
    handles = [fdt.allocate_phandle() for _ in range(5)]
    assert handles == sorted(set(handles)) and handles[0] > 0


def test_depth_follows_nesting():
    fdt = FdtBuilder()
    fdt.begin_node("")
    with fdt.node("a"):
        assert fdt.depth == 2
    assert fdt.depth == 1


_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20)


@given(
    props=st.dictionaries(_names, st.binary(max_size=40), max_size=8),
    children=st.lists(_names, unique=True, max_size=5),
)
def test_any_tree_round_trips_through_our_reader(props, children):
    fdt = FdtBuilder()
    fdt.begin_node("")
    for name, value in props.items():
        fdt.property(name, value)
    for child in children:
        with fdt.node(child):
            fdt.property_u32("index", children.index(child))
    fdt.end_node()
    blob = fdt.finish()
    assert read_tree(blob) == (props, children)


def read_tree(blob: bytes) -> tuple[dict[str, bytes], list[str]]:
    """Walk the root node of a DTB independently of the writer: (properties, children)."""
    _, _, off_struct, off_strings, *_ = struct.unpack_from(">10I", blob)
    pos = off_struct
    depth = 0
    props: dict[str, bytes] = {}
    children: list[str] = []

    def align(value: int) -> int:
        return (value + 3) & ~3

    while True:
        (token,) = struct.unpack_from(">I", blob, pos)
        pos += 4
        if token == 1:
            end = blob.index(b"\0", pos)
            if depth == 1:
                children.append(blob[pos:end].decode())
            depth += 1
            pos = align(end + 1)
        elif token == 2:
            depth -= 1
        elif token == 3:
            length, nameoff = struct.unpack_from(">II", blob, pos)
            pos += 8
            name_end = blob.index(b"\0", off_strings + nameoff)
            if depth == 1:
                props[blob[off_strings + nameoff:name_end].decode()] = blob[pos:pos + length]
            pos = align(pos + length)
        elif token == 9:
            return props, children
        else:
            raise AssertionError(f"unknown token {token}")
