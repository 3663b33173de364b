"""The riscv plugin's command-line options and their checks (hooks).

``--irqchip aia|plic|auto``, ``--dtb-out FILE`` and one ``--disable-<ext>`` flag per
multi-letter ISA extension, as kvmtool has them, plus F, D, V and H.
"""

from __future__ import annotations

from vmm import hookimpl
from vmm.core.config import Config
from vmm.core.errors import ConfigError
from vmm.core.options import OptionGroup, check_output_file

from .isa import DISABLE_OPTIONS, disable_dest

IRQCHIPS = ("auto", "aia", "plic")
#: KVM's AIA modes: trap-and-emulate IMSICs, IMSIC guest files, or guest files when free.
AIA_MODES = ("emul", "hwaccel", "auto")
#: ``config.plugin_options`` key of the model profile tests may give (not an option).
MODEL_PROFILE_KEY = "riscv_model_profile"


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
    return [name for name in DISABLE_OPTIONS if config.option(disable_dest(name))]


def irqchip_choice(config: Config) -> str:
    """The ``--irqchip`` value (``auto`` by default)."""
    return config.option("irqchip") or "auto"


@hookimpl
def vmm_validate_config(config: Config) -> None:
    """Refuse an unknown --irqchip, an AIA without ssaia, a --dtb-out in no directory
    in one line; name the built-in guest for a run without a kernel."""
    from .guest import GUEST_PATH

    config.plugin_options.setdefault("default_guest", str(GUEST_PATH))
    choice = irqchip_choice(config)
    if choice not in IRQCHIPS:
        raise ConfigError(f"--irqchip {choice!r}: choose one of {', '.join(IRQCHIPS)}")
    if choice == "aia" and config.option(disable_dest("ssaia")):
        raise ConfigError("--irqchip aia needs the ssaia extension: drop --disable-ssaia")
    aia_mode = config.option("aia_mode")
    if aia_mode is not None and aia_mode not in AIA_MODES:
        raise ConfigError(f"--aia-mode {aia_mode!r}: choose one of {', '.join(AIA_MODES)}")
    if aia_mode is not None and choice == "plic":
        raise ConfigError("--aia-mode needs the AIA: drop --irqchip plic")
    check_output_file("--dtb-out", config.option("dtb_out"))
