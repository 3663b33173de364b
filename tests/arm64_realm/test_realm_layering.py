"""Realm code lives only in plugins/arm64_realm: ``grep -ri realm`` finds nothing in the
core and the other plugins (the layering rule of the architecture)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REALM_FREE = ["vmmcore", "plugins/arm64", "plugins/x86", "plugins/riscv", "plugins/virtio"]
#: "realm" inside "realmode" is x86's real mode (the boot protocol's realmode_swtch
#: field), not a realm: the one word the grep may match.
REALM = re.compile(rb"realm(?!ode)", re.IGNORECASE)


def realm_mentions(directory: str) -> list[str]:
    """``grep -ril realm DIRECTORY`` over source files (compiled caches skipped)."""
    found = []
    for path in sorted((REPO / directory).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and REALM.search(path.read_bytes()):
            found.append(str(path.relative_to(REPO)))
    return found


def test_no_realm_outside_the_realm_plugin() -> None:
    offenders = [path for directory in REALM_FREE for path in realm_mentions(directory)]
    assert offenders == [], "realm behaviour belongs in plugins/arm64_realm (a layer)"


def test_the_realm_plugin_is_a_layer_on_arm64() -> None:
    import vmm.plugins.arm64_realm as realm

    assert realm.VMM_LAYER_FOR == "arm64"
    assert realm_mentions("plugins/arm64_realm")
