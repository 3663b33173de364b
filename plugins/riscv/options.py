"""The riscv plugin's command-line options and their checks (hooks).

``--irqchip aia|plic|auto``, ``--dtb-out FILE`` and one ``--disable-<ext>`` flag per
multi-letter ISA extension, as kvmtool has them, plus F, D, V and H.
"""

from __future__ import annotations

from vmm import hookimpl
from vmm.core.config import Config
from vmm.core.errors import ConfigError
from vmm.core.options import OptionGroup, OptionValues, check_output_file

from .isa import DISABLE_OPTIONS, disable_dest

#: The plugin's name (its entry point), under which its options are bound.
PLUGIN = "riscv"
IRQCHIPS = ("auto", "aia", "plic")
#: KVM's AIA modes: trap-and-emulate IMSICs, IMSIC guest files, or guest files when free.
AIA_MODES = ("emul", "hwaccel", "auto")


def riscv_options(config: Config) -> OptionValues:
    """The riscv options of ``config``, read-only."""
    return config.options_of(PLUGIN)


@hookimpl
def vmm_addoption(group: OptionGroup) -> None:
    """--irqchip, --aia-mode, --dtb-out and one --disable-<ext> per multi-letter ISA
    extension."""
    group.addoption(
        "--irqchip", choices=IRQCHIPS, default="auto", metavar="aia|plic|auto",
        help="riscv interrupt controller: KVM's in-kernel AIA (APLIC + IMSIC), a PLIC "
        "emulated in vmm, or auto (the AIA when KVM has it).",
    )
    group.addoption(
        "--aia-mode", choices=AIA_MODES, metavar="emul|hwaccel|auto",
        help="How KVM's AIA delivers MSIs: emulated IMSICs, IMSIC guest files, or "
        "auto. Default: KVM's choice.",
    )
    group.addoption("--dtb-out", metavar="FILE",
                    help="Also write the generated device tree blob to FILE.")
    for name in DISABLE_OPTIONS:
        group.addoption(f"--disable-{name}", type=bool,
                        help=f"Hide the {name} extension from the guest.")


def disabled_extensions(config: Config) -> list[str]:
    """The extensions the user asked to hide, in ISA_EXT id order."""
    options = riscv_options(config)
    return [name for name in DISABLE_OPTIONS if getattr(options, disable_dest(name))]


def irqchip_choice(config: Config) -> str:
    """The ``--irqchip`` value (``auto`` by default)."""
    return riscv_options(config).irqchip or "auto"


@hookimpl
def vmm_validate_config(config: Config) -> None:
    """Refuse an unknown --irqchip, an AIA without ssaia, a --dtb-out in no directory
    in one line."""
    options = riscv_options(config)
    choice = irqchip_choice(config)
    if choice not in IRQCHIPS:
        raise ConfigError(f"--irqchip {choice!r}: choose one of {', '.join(IRQCHIPS)}")
    if choice == "aia" and getattr(options, disable_dest("ssaia")):
        raise ConfigError("--irqchip aia needs the ssaia extension: drop --disable-ssaia")
    aia_mode = options.aia_mode
    if aia_mode is not None and aia_mode not in AIA_MODES:
        raise ConfigError(f"--aia-mode {aia_mode!r}: choose one of {', '.join(AIA_MODES)}")
    if aia_mode is not None and choice == "plic":
        raise ConfigError("--aia-mode needs the AIA: drop --irqchip plic")
    check_output_file("--dtb-out", options.dtb_out)
