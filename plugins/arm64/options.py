"""The arm64 plugin's command-line options and their validation.

Option destinations (``config.plugin_options[...]``) other plugins may read:
``irqchip``, ``disable_sve``, ``pmu``, ``no_pvtime``, ``disable_mte``, ``flash``,
``dtb_out``, ``model_host``.
"""

from __future__ import annotations

import os

from vmm import hookimpl
from vmm.core.config import Config
from vmm.core.errors import ConfigError
from vmm.core.options import OptionGroup

from .flash import check_flash_file

IRQCHIP = "irqchip"
DISABLE_SVE = "disable_sve"
PMU = "pmu"
NO_PVTIME = "no_pvtime"
DISABLE_MTE = "disable_mte"
FLASH = "flash"
DTB_OUT = "dtb_out"
MODEL_HOST = "model_host"
IRQCHIP_CHOICES = ("auto", "gicv3", "gicv2", "gicv3-its")


@hookimpl
def vmm_addoption(group: OptionGroup) -> None:
    """Declare the arm64 options (kvmtool's names where it has them)."""
    group.addoption("--irqchip", choices=IRQCHIP_CHOICES, default="auto", metavar="gicv3|gicv3-its|gicv2|auto",
                    help="Interrupt controller: KVM's in-kernel GICv3 or GICv2 (auto: v3, else v2); "
                         "gicv3-its adds an ITS, so virtio-pci interrupts through MSI-X.")
    group.addoption("--disable-sve", type=bool, help="Don't give the vCPUs SVE, even if KVM can.")
    group.addoption("--pmu", type=bool,
                    help="Give the vCPUs a PMUv3 (off unless asked, as in kvmtool).")
    group.addoption("--no-pvtime", type=bool, help="Don't give the guest stolen-time accounting.")
    group.addoption("--disable-mte", type=bool, help="Don't enable MTE, even if KVM can.")
    group.addoption("--flash", metavar="FILE",
                    help="A CFI NOR flash device backed by FILE (at most 16 MiB; MTE is then off).")
    group.addoption("--dtb-out", metavar="FILE", help="Also write the generated device tree to FILE.")
    group.addoption("--model-host", metavar="KEY=VAL,...",
                    help="With --dry-run: what the modelled KVM offers, e.g. "
                         "'ipa=36,sve=0,gicv3=0,gicv2=1,mte=1'.")


@hookimpl
def vmm_validate_config(config: Config) -> None:
    """Check the arm64 options (flash file, --dtb-out, --model-host); without a kernel
    or firmware, boot the built-in guest."""
    options = config.plugin_options
    if not config.kernel and not config.firmware:
        from .builtin_guest import GUEST_PATH

        options.setdefault("default_guest", str(GUEST_PATH))
    choice = options.get(IRQCHIP) or "auto"
    if choice not in IRQCHIP_CHOICES:
        raise ConfigError(f"--irqchip must be one of {', '.join(IRQCHIP_CHOICES)} (got {choice!r})")
    if options.get(FLASH):
        check_flash_file(options[FLASH])
    _check_output(options.get(DTB_OUT))
    model_host = options.get(MODEL_HOST)
    if model_host:
        if not config.dry_run:
            raise ConfigError("--model-host only makes sense with --dry-run")
        from .model_host import model_host_from_options

        model_host_from_options(model_host)


def _check_output(path: str | None) -> None:
    if not path:
        return
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ConfigError(f"--dtb-out {path!r}: directory {directory!r} does not exist")
    if os.path.isdir(path):
        raise ConfigError(f"--dtb-out {path!r} is a directory; give a file name")
