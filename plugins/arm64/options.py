"""The arm64 plugin's command-line options and their validation.

The values are in ``arm64_options(config)`` (``config.options_of("arm64")``), which
layers may read: ``irqchip``, ``disable_sve``, ``pmu``, ``no_pvtime``,
``disable_mte``, ``flash``, ``dtb_out``, ``model_host``. Nobody writes them; a layer
that needs another SVE decision implements ``vmm_arm64_sve`` (:mod:`.hookspecs`).
"""

from __future__ import annotations

from vmm import hookimpl
from vmm.core.config import Config
from vmm.core.errors import ConfigError
from vmm.core.options import OptionGroup, OptionValues, check_output_file

from .flash import check_flash_file

#: The plugin's name (its entry point), under which its options are bound.
PLUGIN = "arm64"
#: --irqchip's values, in the order help shows them.
IRQCHIP_CHOICES = ("gicv3", "gicv3-its", "gicv2", "auto")


def arm64_options(config: Config) -> OptionValues:
    """The arm64 options of ``config``, read-only."""
    return config.options_of(PLUGIN)


@hookimpl
def vmm_addoption(group: OptionGroup) -> None:
    """Declare the arm64 options (kvmtool's names where it has them)."""
    group.addoption("--irqchip", choices=IRQCHIP_CHOICES, default="auto", metavar="|".join(IRQCHIP_CHOICES),
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
    """Check the arm64 options (flash file, --dtb-out, --model-host)."""
    options = arm64_options(config)
    choice = options.irqchip or "auto"
    if choice not in IRQCHIP_CHOICES:
        raise ConfigError(f"--irqchip must be one of {', '.join(IRQCHIP_CHOICES)} (got {choice!r})")
    if options.flash:
        check_flash_file(options.flash)
    check_output_file("--dtb-out", options.dtb_out)
    if options.model_host:
        if not config.dry_run:
            raise ConfigError("--model-host only makes sense with --dry-run")
        from .model_host import ModelHost

        ModelHost.parse(options.model_host)
