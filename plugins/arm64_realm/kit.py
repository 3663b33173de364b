"""The Arm CCA host kit: an emulated RME host that runs realms for real.

The kit (``../shared/cca`` next to a checkout, or what ``scripts/build-cca-kit``
builds) holds TF-A + TF-RMM v0.8.0 + a linux-cca ``cca-host/v7`` kernel in one QEMU
firmware image (``host/flash.bin``), a Debian realm guest kernel and its modules.
The kernel's built-in init mounts the 9p share tagged ``vmm`` on ``/vmm``, runs
``/vmm/init`` and powers off.
"""

from __future__ import annotations

import os
from pathlib import Path

from vmm.core.errors import ConfigError

#: The environment variable naming the kit when ``--cca-kit`` is not given.
KIT_ENV = "VMM_CCA_KIT"
#: The kit's QEMU firmware image: TF-A BL1 and a FIP with BL2, BL31, the RMM and
#: the host kernel.
FIRMWARE = Path("host/flash.bin")
#: The Debian realm guest kernel (an uncompressed arm64 Image) and its modules.
GUEST_KERNEL = Path("guest/vmlinuz")
GUEST_MODULES = Path("guest/modules")
#: QEMU's machine for it: EL3 and EL2 (TF-A, KVM), FEAT_RME, GICv3, a device tree.
#: ``sme=off``: the RMM 1.0 does not handle SME; ``pauth-impdef``: faster TCG.
QEMU_MACHINE = ("-M", "virt,virtualization=on,secure=on,gic-version=3,acpi=off",
                "-cpu", "max,x-rme=on,sme=off,pauth-impdef=on")
#: The built-in init's payload share: its 9p tag and where it mounts it.
PAYLOAD_TAG = "vmm"
PAYLOAD_MOUNT = "/vmm"


def built_kit_dir() -> Path:
    """Where ``scripts/build-cca-kit`` puts the kit: ``$XDG_DATA_HOME/vmm/cca-kit``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "vmm" / "cca-kit"


def checkout_kit_dir() -> Path:
    """``../shared/cca`` next to the checkout this vmm runs from (what CI has)."""
    from vmm.core.nested.cache import project_root

    return project_root().parent / "shared" / "cca"


def is_kit(directory: Path) -> bool:
    """Whether ``directory`` holds a kit's firmware image."""
    return (directory / FIRMWARE).is_file()


def find_kit(given: str | None = None) -> Path:
    """The kit to use: ``given`` (``--cca-kit``), ``$VMM_CCA_KIT``, the built one,
    else the checkout's; a ConfigError says how to get one."""
    for source, value in (("--cca-kit", given), (KIT_ENV, os.environ.get(KIT_ENV))):
        if value:
            path = Path(value).expanduser().resolve()
            if not is_kit(path):
                raise ConfigError(f"{source} {value}: not an Arm CCA host kit (no {FIRMWARE})")
            return path
    for candidate in (built_kit_dir(), checkout_kit_dir()):
        if is_kit(candidate):
            return candidate.resolve()
    raise ConfigError(
        f"no Arm CCA host kit: build one with scripts/build-cca-kit (into {built_kit_dir()}) "
        f"or give --cca-kit DIR (or {KIT_ENV})"
    )
