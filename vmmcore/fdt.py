"""A flattened device tree (DTB, version 17) writer, shared by every architecture.

Build the tree top-down, then take the blob::

    fdt = FdtBuilder()
    fdt.begin_node("")                      # the root node
    fdt.property_u32("#address-cells", 2)
    with fdt.node("memory@80000000"):
        fdt.property_string("device_type", "memory")
        fdt.property_cells("reg", [0, 0x8000_0000, 0, 0x1000_0000])
    fdt.end_node()
    blob = fdt.finish()

The builder refuses what would give a malformed blob (a property outside a node, an
``end_node`` without a ``begin_node``, a second root, a duplicate node or property
name, ``finish`` with nodes still open) with :class:`FdtError`. The output depends
only on the calls made: the same calls give the same bytes.

The layout follows the Devicetree Specification (chapter 5): a header, the memory
reservation block, the structure block, then the strings block.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from vmm.core.errors import VmmError

FDT_MAGIC = 0xD00DFEED
FDT_VERSION = 17
FDT_LAST_COMPATIBLE_VERSION = 16

# Structure block tokens (Devicetree Specification 5.4.1).
FDT_BEGIN_NODE = 0x1
FDT_END_NODE = 0x2
FDT_PROP = 0x3
FDT_END = 0x9

# Header: magic, totalsize, off_dt_struct, off_dt_strings, off_mem_rsvmap, version,
# last_comp_version, boot_cpuid_phys, size_dt_strings, size_dt_struct.
_HEADER = struct.Struct(">10I")
_RESERVE_ENTRY = struct.Struct(">QQ")
_TOKEN = struct.Struct(">I")
_PROP_HEADER = struct.Struct(">III")  # FDT_PROP, value length, name offset
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")

STRUCT_ALIGN = _TOKEN.size
RESERVE_ALIGN = 8
U32_MAX = (1 << 32) - 1
U64_MAX = (1 << 64) - 1
MAX_NAME_LENGTH = 31  # node names (before "@") and property names
# Characters allowed in node and property names (Devicetree Specification 2.2.1, 2.2.4).
_NODE_NAME_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,._+-@"
)
_PROPERTY_NAME_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,._+?#-"
)


class FdtError(VmmError):
    """The device tree being built would be malformed (names what was wrong)."""


def _pad(data: bytearray, align: int) -> None:
    """Append zero bytes to ``data`` until its length is a multiple of ``align``."""
    data.extend(bytes(-len(data) % align))


#: What a node's children's ``reg`` uses when it sets no ``#address-cells`` or
#: ``#size-cells`` (Devicetree Specification 2.3.5).
DEFAULT_ADDRESS_CELLS = 2
DEFAULT_SIZE_CELLS = 1


class _OpenNode:
    """Book-keeping for a node whose ``end_node`` has not been called yet."""

    __slots__ = ("name", "children", "properties", "cells")

    def __init__(self, name: str) -> None:
        self.name = name
        self.children: set[str] = set()
        self.properties: set[str] = set()
        #: "#address-cells" and "#size-cells" as this node set them.
        self.cells: dict[str, int] = {}


class FdtBuilder:
    """Writes a flattened device tree, node by node, in the order of the calls."""

    def __init__(self, boot_cpuid_phys: int = 0) -> None:
        """Start an empty tree; ``boot_cpuid_phys`` goes in the header."""
        self._boot_cpuid_phys = boot_cpuid_phys
        self._reservations: list[tuple[int, int]] = []
        self._struct = bytearray()
        self._strings = bytearray()
        self._string_offsets: dict[str, int] = {}
        self._stack: list[_OpenNode] = []
        self._root_done = False
        self._next_phandle = 1
        self._finished = False

    # -- memory reservation block ------------------------------------------------

    def add_reservation(self, address: int, size: int) -> None:
        """Reserve ``size`` bytes of guest memory at ``address`` (/memreserve/)."""
        self._check_open_for_writing()
        if size <= 0 or address < 0 or address + size - 1 > U64_MAX:
            raise FdtError(f"bad memory reservation {address:#x}+{size:#x}")
        self._reservations.append((address, size))

    # -- nodes -----------------------------------------------------------------------

    def begin_node(self, name: str) -> None:
        """Open a node: ``""`` for the root (first), else a child of the open node."""
        self._check_open_for_writing()
        if not self._stack:
            if self._root_done:
                raise FdtError(f"node {name!r} after the root node was closed")
            if name != "":
                raise FdtError(f"the first node must be the root (\"\"), not {name!r}")
        else:
            self._check_node_name(name)
            parent = self._stack[-1]
            if name in parent.children:
                raise FdtError(f"duplicate node {name!r} in {self._path()}")
            parent.children.add(name)
        self._struct += _TOKEN.pack(FDT_BEGIN_NODE)
        self._struct += name.encode("ascii") + b"\0"
        _pad(self._struct, STRUCT_ALIGN)
        self._stack.append(_OpenNode(name))

    def end_node(self) -> None:
        """Close the most recently opened node."""
        self._check_open_for_writing()
        if not self._stack:
            raise FdtError("end_node without a matching begin_node")
        self._stack.pop()
        self._struct += _TOKEN.pack(FDT_END_NODE)
        if not self._stack:
            self._root_done = True

    @contextmanager
    def node(self, name: str) -> Iterator[None]:
        """Open a node for the body of a ``with`` block and close it after."""
        self.begin_node(name)
        yield
        self.end_node()

    @property
    def depth(self) -> int:
        """How many nodes are open (1 inside the root node)."""
        return len(self._stack)

    # -- properties ------------------------------------------------------------------

    def property(self, name: str, value: bytes) -> None:
        """Add a property with raw bytes as its value to the open node."""
        self._check_open_for_writing()
        if not self._stack:
            raise FdtError(f"property {name!r} outside of any node")
        self._check_property_name(name)
        current = self._stack[-1]
        if current.children:
            raise FdtError(f"property {name!r} after a subnode of {self._path()}: "
                           "properties come first")
        if name in current.properties:
            raise FdtError(f"duplicate property {name!r} in {self._path()}")
        current.properties.add(name)
        self._struct += _PROP_HEADER.pack(FDT_PROP, len(value), self._string_offset(name))
        self._struct += value
        _pad(self._struct, STRUCT_ALIGN)

    def property_empty(self, name: str) -> None:
        """Add a property without a value (a flag such as ``interrupt-controller``)."""
        self.property(name, b"")

    def property_u32(self, name: str, value: int) -> None:
        """Add a property holding one big-endian 32-bit cell."""
        self.property(name, _U32.pack(self._check_u32(name, value)))
        if name in ("#address-cells", "#size-cells"):
            self._stack[-1].cells[name] = value

    def property_reg(self, ranges: Iterable[tuple[int, int]], name: str = "reg") -> None:
        """Add ``reg`` (or ``name``) for ``(address, size)`` pairs, in as many cells
        as the parent node's ``#address-cells`` and ``#size-cells`` say (the root's,
        for a node a plugin adds in ``vmm_device_tree``)."""
        if len(self._stack) < 2:
            raise FdtError(f"property {name!r}: a reg needs a parent node's cell sizes")
        parent = self._stack[-2].cells
        widths = (parent.get("#address-cells", DEFAULT_ADDRESS_CELLS),
                  parent.get("#size-cells", DEFAULT_SIZE_CELLS))
        cells: list[int] = []
        for pair in ranges:
            for value, width in zip(pair, widths, strict=True):
                if not 0 <= value < 1 << (32 * width):
                    raise FdtError(f"property {name!r}: {value:#x} does not fit in {width} cells")
                cells += [(value >> (32 * i)) & U32_MAX for i in reversed(range(width))]
        self.property_cells(name, cells)

    def property_u64(self, name: str, value: int) -> None:
        """Add a property holding one big-endian 64-bit value (two cells)."""
        if not 0 <= value <= U64_MAX:
            raise FdtError(f"property {name!r}: {value:#x} does not fit in 64 bits")
        self.property(name, _U64.pack(value))

    def property_cells(self, name: str, cells: Iterable[int]) -> None:
        """Add a property holding a list of 32-bit cells (``reg``, ``interrupts``)."""
        values = [self._check_u32(name, cell) for cell in cells]
        self.property(name, struct.pack(f">{len(values)}I", *values))

    def property_string(self, name: str, value: str) -> None:
        """Add a property holding one NUL-terminated string."""
        self.property(name, self._encode_string(name, value) + b"\0")

    def property_string_list(self, name: str, values: Iterable[str]) -> None:
        """Add a property holding several NUL-terminated strings (``compatible``)."""
        self.property(name, b"".join(self._encode_string(name, v) + b"\0" for v in values))

    # -- phandles ----------------------------------------------------------------------

    def allocate_phandle(self) -> int:
        """Reserve a new phandle value (unique in this tree) without using it yet."""
        if self._next_phandle >= U32_MAX:
            raise FdtError("no phandles left")
        phandle = self._next_phandle
        self._next_phandle += 1
        return phandle

    def property_phandle(self, phandle: int | None = None) -> int:
        """Give the open node a ``phandle`` property (a new one unless given); return it."""
        if phandle is None:
            phandle = self.allocate_phandle()
        elif not 0 < phandle < self._next_phandle:
            raise FdtError(f"phandle {phandle} was not allocated by this builder")
        self.property_u32("phandle", phandle)
        return phandle

    # -- the blob ------------------------------------------------------------------------

    def finish(self) -> bytes:
        """Return the DTB; the builder accepts no more calls afterwards."""
        if self._stack:
            raise FdtError(f"finish with node {self._path()} still open")
        if not self._root_done:
            raise FdtError("finish without a root node")
        self._finished = True
        reserve = bytearray()
        for address, size in self._reservations:
            reserve += _RESERVE_ENTRY.pack(address, size)
        reserve += _RESERVE_ENTRY.pack(0, 0)
        structure = self._struct + _TOKEN.pack(FDT_END)

        off_mem_rsvmap = _HEADER.size + (-_HEADER.size % RESERVE_ALIGN)
        off_dt_struct = off_mem_rsvmap + len(reserve)
        off_dt_strings = off_dt_struct + len(structure)
        total = off_dt_strings + len(self._strings)
        header = _HEADER.pack(
            FDT_MAGIC,
            total,
            off_dt_struct,
            off_dt_strings,
            off_mem_rsvmap,
            FDT_VERSION,
            FDT_LAST_COMPATIBLE_VERSION,
            self._boot_cpuid_phys,
            len(self._strings),
            len(structure),
        )
        blob = bytearray(header)
        _pad(blob, RESERVE_ALIGN)
        blob += reserve
        blob += structure
        blob += self._strings
        return bytes(blob)

    # -- helpers ------------------------------------------------------------------------

    def _check_open_for_writing(self) -> None:
        if self._finished:
            raise FdtError("the device tree was already finished")

    def _path(self) -> str:
        names = [node.name for node in self._stack[1:]]
        return "/" + "/".join(names)

    def _string_offset(self, name: str) -> int:
        offset = self._string_offsets.get(name)
        if offset is None:
            offset = len(self._strings)
            self._strings += name.encode("ascii") + b"\0"
            self._string_offsets[name] = offset
        return offset

    @staticmethod
    def _check_u32(name: str, value: int) -> int:
        if not 0 <= value <= U32_MAX:
            raise FdtError(f"property {name!r}: {value:#x} does not fit in 32 bits")
        return value

    @staticmethod
    def _encode_string(name: str, value: str) -> bytes:
        try:
            data = value.encode("utf-8")
        except UnicodeEncodeError as error:
            raise FdtError(f"property {name!r}: {error}") from None
        if b"\0" in data:
            raise FdtError(f"property {name!r}: a string may not contain a NUL byte")
        return data

    @staticmethod
    def _check_node_name(name: str) -> None:
        base, _, _unit_address = name.partition("@")
        if not 0 < len(base) <= MAX_NAME_LENGTH or not set(name) <= _NODE_NAME_CHARS:
            raise FdtError(f"invalid node name {name!r}")
        if name.count("@") > 1:
            raise FdtError(f"invalid node name {name!r}")

    @staticmethod
    def _check_property_name(name: str) -> None:
        if not 0 < len(name) <= MAX_NAME_LENGTH or not set(name) <= _PROPERTY_NAME_CHARS:
            raise FdtError(f"invalid property name {name!r}")
