"""Reading a flattened device tree back: the parsed view tests (and plugins) inspect.

``parse_fdt(blob)`` gives the root :class:`FdtNode`; ``node.find("/cpus/cpu@0")``,
``root.compatible("vmm,test-exit")``, ``node.reg()`` (address and size pairs in the
parent's cell sizes), ``node.string("status")``... It reads what
:class:`vmm.core.fdt.FdtBuilder` writes (version 17, Devicetree Specification
chapter 5) and any other well-formed blob, and refuses a malformed one with
:class:`vmm.core.fdt.FdtError`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from .fdt import (
    DEFAULT_ADDRESS_CELLS,
    DEFAULT_SIZE_CELLS,
    FDT_BEGIN_NODE,
    FDT_END,
    FDT_END_NODE,
    FDT_MAGIC,
    FDT_PROP,
    FdtError,
)

FDT_NOP = 0x4
_WORD = struct.Struct(">I")


@dataclass
class FdtNode:
    """One node: its name (``"uart@1000000"``, ``""`` for the root), raw property
    values, children in tree order, and its parent (None for the root)."""

    name: str
    parent: FdtNode | None = field(default=None, repr=False)
    properties: dict[str, bytes] = field(default_factory=dict)
    children: list[FdtNode] = field(default_factory=list, repr=False)

    @property
    def path(self) -> str:
        if self.parent is None:
            return "/"
        parent = self.parent.path
        return f"{parent.rstrip('/')}/{self.name}"

    def cells(self, name: str) -> list[int]:
        """Property ``name`` as big-endian 32-bit cells."""
        value = self._value(name)
        if len(value) % 4:
            raise FdtError(f"{self.path}: {name} is {len(value)} bytes, not whole cells")
        return list(struct.unpack(f">{len(value) // 4}I", value))

    def u32(self, name: str) -> int:
        """Property ``name`` as one cell."""
        values = self.cells(name)
        if len(values) != 1:
            raise FdtError(f"{self.path}: {name} has {len(values)} cells, not 1")
        return values[0]

    def u32_or(self, name: str, default: int) -> int:
        """Property ``name`` as one cell, or ``default`` where the node lacks it."""
        return self.u32(name) if name in self.properties else default

    def strings(self, name: str) -> list[str]:
        """Property ``name`` as a list of NUL-terminated strings (``compatible``)."""
        value = self._value(name)
        if not value.endswith(b"\0"):
            raise FdtError(f"{self.path}: {name} is not NUL-terminated")
        return [text.decode() for text in value[:-1].split(b"\0")]

    def string(self, name: str) -> str:
        """Property ``name`` as one string."""
        return self.strings(name)[0]

    def reg(self, name: str = "reg") -> list[tuple[int, int]]:
        """``(address, size)`` pairs of ``reg``, in the parent's cell sizes."""
        owner = self.parent if self.parent is not None else self
        address_cells = owner.u32_or("#address-cells", DEFAULT_ADDRESS_CELLS)
        size_cells = owner.u32_or("#size-cells", DEFAULT_SIZE_CELLS)
        values = self.cells(name)
        step = address_cells + size_cells
        if not step or len(values) % step:
            raise FdtError(f"{self.path}: {name} does not hold whole "
                           f"({address_cells}+{size_cells})-cell entries")
        pairs = []
        for start in range(0, len(values), step):
            words = values[start:start + step]
            pairs.append((_join(words[:address_cells]), _join(words[address_cells:])))
        return pairs

    def walk(self) -> Iterator[FdtNode]:
        """This node and every node below it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()

    def find(self, path: str) -> FdtNode | None:
        """The node at ``path`` (absolute from the root, or relative), or None."""
        node: FdtNode | None = self
        for part in path.strip("/").split("/") if path.strip("/") else []:
            node = next((c for c in node.children if c.name == part), None) if node else None
        return node

    def compatible(self, value: str) -> list[FdtNode]:
        """Every node below (or at) this one whose ``compatible`` lists ``value``."""
        return [node for node in self.walk()
                if "compatible" in node.properties and value in node.strings("compatible")]

    def _value(self, name: str) -> bytes:
        try:
            return self.properties[name]
        except KeyError:
            raise FdtError(f"{self.path} has no property {name!r}") from None


def _join(words: list[int]) -> int:
    value = 0
    for word in words:
        value = value << 32 | word
    return value


def parse_fdt(blob: bytes) -> FdtNode:
    """The root node of the DTB ``blob``."""
    if len(blob) < 40 or _WORD.unpack_from(blob)[0] != FDT_MAGIC:
        raise FdtError("not a flattened device tree (bad magic)")
    total, off_struct, off_strings = struct.unpack_from(">3I", blob, 4)
    if total > len(blob):
        raise FdtError(f"the device tree says it is {total} bytes; have {len(blob)}")
    stack: list[FdtNode] = []
    position, root = off_struct, None
    while True:
        (token,) = _WORD.unpack_from(blob, position)
        position += 4
        if token == FDT_BEGIN_NODE:
            end = blob.index(b"\0", position)
            node = FdtNode(blob[position:end].decode(), stack[-1] if stack else None)
            if stack:
                stack[-1].children.append(node)
            elif root is None:
                root = node
            else:
                raise FdtError("a second root node")
            stack.append(node)
            position = (end + 4) & ~3
        elif token == FDT_PROP:
            length, name_offset = struct.unpack_from(">II", blob, position)
            name_start = off_strings + name_offset
            name = blob[name_start:blob.index(b"\0", name_start)].decode()
            if not stack:
                raise FdtError(f"property {name!r} outside any node")
            stack[-1].properties[name] = bytes(blob[position + 8:position + 8 + length])
            position = (position + 8 + length + 3) & ~3
        elif token == FDT_END_NODE:
            if not stack:
                raise FdtError("an end of node without a node")
            stack.pop()
        elif token == FDT_END:
            if stack or root is None:
                raise FdtError("the structure block ends inside a node")
            return root
        elif token != FDT_NOP:
            raise FdtError(f"unknown structure token {token:#x} at offset {position - 4}")
