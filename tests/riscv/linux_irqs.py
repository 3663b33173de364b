"""How Linux reads the interrupt properties of a device tree, for tests.

A DTB reader independent of :mod:`vmm.core.fdt`, and the rules of Linux's
drivers/of/irq.c that decide whether a guest kernel can use the tree:

- ``of_irq_find_parent``: follow ``interrupt-parent`` (or the node's parent) until a
  node with ``#interrupt-cells``;
- ``of_irq_parse_one(node, index)``: entry ``index`` of ``interrupts-extended``, else
  ``index * cells`` of ``interrupts`` with the parent's cell count, which succeeds for
  *every* index when that count is 0 (fw_devlink and ``of_irq_count`` then loop forever);
- ``of_irq_init``: early controllers start from the roots (no parent, or themselves),
  then children of started ones.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

FDT_BEGIN_NODE, FDT_END_NODE, FDT_PROP, FDT_NOP, FDT_END = 1, 2, 3, 4, 9
#: Controllers Linux's riscv kernels start early through IRQCHIP_DECLARE (of_irq_init).
EARLY_CONTROLLERS = ("riscv,cpu-intc", "riscv,imsics")
#: More indices than any node of ours has: a parse still succeeding here never ends.
ENDLESS = 256


@dataclass
class Node:
    """One device tree node: its path, properties and children."""

    path: str
    parent: Node | None
    props: dict[str, bytes] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)

    def cells(self, name: str) -> list[int] | None:
        """A property as big-endian u32 cells, None when absent."""
        value = self.props.get(name)
        if value is None:
            return None
        return list(struct.unpack(f">{len(value) // 4}I", value))

    def u32(self, name: str) -> int | None:
        """A one-cell property, None when absent."""
        cells = self.cells(name)
        return None if cells is None else cells[0]

    def strings(self, name: str) -> list[str]:
        """A string-list property ([] when absent)."""
        value = self.props.get(name, b"")
        return [item.decode() for item in value.split(b"\0")[:-1]]


def read_dtb(blob: bytes) -> Node:
    """Parse a flattened device tree into its root :class:`Node`."""
    magic, _, off_struct, off_strings = struct.unpack_from(">4I", blob)
    assert magic == 0xD00DFEED, hex(magic)
    pos = off_struct
    stack: list[Node] = []
    root: Node | None = None
    while True:
        (token,) = struct.unpack_from(">I", blob, pos)
        pos += 4
        if token == FDT_BEGIN_NODE:
            end = blob.index(b"\0", pos)
            name = blob[pos:end].decode()
            pos = (end + 4) & ~3
            parent = stack[-1] if stack else None
            path = "/" if parent is None else f"{parent.path.rstrip('/')}/{name}"
            node = Node(path, parent)
            if parent is None:
                root = node
            else:
                parent.children.append(node)
            stack.append(node)
        elif token == FDT_END_NODE:
            stack.pop()
        elif token == FDT_PROP:
            length, name_offset = struct.unpack_from(">II", blob, pos)
            pos += 8
            name_end = blob.index(b"\0", off_strings + name_offset)
            name = blob[off_strings + name_offset:name_end].decode()
            stack[-1].props[name] = blob[pos:pos + length]
            pos = (pos + length + 3) & ~3
        elif token == FDT_END:
            assert root is not None and not stack
            return root
        elif token != FDT_NOP:
            raise AssertionError(f"unknown FDT token {token}")


class Tree:
    """A parsed tree with Linux's interrupt lookups."""

    def __init__(self, blob: bytes) -> None:
        self.root = read_dtb(blob)
        self.nodes = list(self._walk(self.root))
        self.by_phandle = {node.u32("phandle"): node for node in self.nodes
                           if node.u32("phandle") is not None}

    def _walk(self, node: Node):
        yield node
        for child in node.children:
            yield from self._walk(child)

    def node(self, path: str) -> Node:
        """The node at ``path``."""
        for node in self.nodes:
            if node.path == path:
                return node
        raise KeyError(path)

    def interrupt_parent(self, node: Node) -> Node | None:
        """of_irq_find_parent: the first node up the chain with ``#interrupt-cells``."""
        current: Node | None = node
        while True:
            assert current is not None
            phandle = current.u32("interrupt-parent")
            current = current.parent if phandle is None else self.by_phandle[phandle]
            if current is None or "#interrupt-cells" in current.props:
                return current

    def parse_one(self, node: Node, index: int) -> Node | None:
        """of_irq_parse_one: the controller of interrupt ``index``, None if it fails."""
        extended = node.cells("interrupts-extended")
        if extended is not None:
            entry, position = 0, 0
            while position < len(extended):
                controller = self.by_phandle[extended[position]]
                if entry == index:
                    return controller
                position += 1 + (controller.u32("#interrupt-cells") or 0)
                entry += 1
        parent = self.interrupt_parent(node)
        if parent is None:
            return None
        size = parent.u32("#interrupt-cells")
        specifiers = node.cells("interrupts") or []
        if size is None or (index + 1) * size > len(specifiers):
            return None
        return parent

    def interrupt_count(self, node: Node) -> int:
        """of_irq_count, stopped at :data:`ENDLESS` (where Linux never stops)."""
        count = 0
        while count < ENDLESS and self.parse_one(node, count) is not None:
            count += 1
        return count

    def early_init_order(self) -> list[Node]:
        """of_irq_init over :data:`EARLY_CONTROLLERS`: the controllers Linux starts."""
        pending = {}
        for node in self.nodes:
            if "interrupt-controller" in node.props and any(
                    name in EARLY_CONTROLLERS for name in node.strings("compatible")):
                parent = self.interrupt_parent(node)
                pending[node.path] = (node, None if parent is node else parent)
        started: list[Node] = []
        parents: list[Node | None] = [None]
        while parents:
            parent = parents.pop(0)
            for path, (node, wanted) in list(pending.items()):
                if wanted is parent:
                    del pending[path]
                    started.append(node)
                    parents.append(node)
        return started
