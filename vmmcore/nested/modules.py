"""Pick the kernel modules the emulated host must load, with their dependencies.

Debian's kernel packages ship no ``modules.dep`` (depmod writes it when the
package is installed), so each module's dependencies are read from its own
``.modinfo`` strings. Compressed modules are decompressed here so that busybox's
``insmod`` can load them as they are.
"""

from __future__ import annotations

import gzip
import lzma
import re
import subprocess
from pathlib import Path

from vmm.core.nested.apt import require_tool
from vmm.core.nested.errors import PackageError

COMPRESSED_SUFFIXES = (".xz", ".zst", ".gz")


def module_name(path: str) -> str:
    """The module name of a path in modules.dep (``kvm-amd`` -> ``kvm_amd``)."""
    name = Path(path).name
    for suffix in COMPRESSED_SUFFIXES:
        name = name.removesuffix(suffix)
    return name.removesuffix(".ko").replace("-", "_")


class ModuleTree:
    """The modules of one kernel release: ``lib/modules/<release>``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.paths = {
            module_name(str(path)): path for path in directory.rglob("*.ko*")
            if path.name.endswith((".ko", *(f".ko{s}" for s in COMPRESSED_SUFFIXES)))
        }
        builtin = directory / "modules.builtin"
        self.builtin = {
            module_name(line) for line in
            (builtin.read_text().splitlines() if builtin.is_file() else [])
        }

    def read(self, name: str) -> bytes:
        """The uncompressed contents of module ``name``."""
        source = self.paths[name]
        if source.suffix == ".xz":
            return lzma.decompress(source.read_bytes())
        if source.suffix == ".gz":
            return gzip.decompress(source.read_bytes())
        if source.suffix == ".zst":
            zstd = require_tool("zstd", "zstd")
            return subprocess.run([zstd, "-dc", str(source)], stdout=subprocess.PIPE,
                                  check=True).stdout
        return source.read_bytes()

    def depends(self, name: str) -> list[str]:
        """The modules ``name`` needs, from its ``depends=`` modinfo string."""
        match = re.search(rb"\0depends=([^\0]*)\0", self.read(name))
        if not match or not match.group(1):
            return []
        return [dep.replace("-", "_") for dep in match.group(1).decode().split(",")]

    def load_order(self, wanted: tuple[str, ...]) -> list[str]:
        """Modules to insmod, dependencies first; built-in ones are left out."""
        order: list[str] = []

        def visit(name: str) -> None:
            if name in order:
                return
            for dependency in self.depends(name):
                visit(dependency)
            order.append(name)

        for requested in wanted:
            name = requested.replace("-", "_")
            if name in self.builtin:
                continue
            if name not in self.paths:
                raise PackageError(
                    f"kernel module {requested} is neither built in nor in "
                    f"kernel {self.directory.name}'s modules"
                )
            visit(name)
        return order

    def extract(self, name: str, destination: Path) -> Path:
        """Write module ``name`` uncompressed to ``destination/<name>.ko``."""
        destination.mkdir(parents=True, exist_ok=True)
        target = destination / f"{name}.ko"
        target.write_bytes(self.read(name))
        return target


def find_module_tree(root: Path) -> ModuleTree:
    """The single kernel release's modules in an unpacked kernel package."""
    releases = sorted((root / "usr" / "lib" / "modules").glob("*/kernel"))
    if not releases:
        raise PackageError("the kernel package has no modules")
    return ModuleTree(releases[-1].parent)
