"""The x86 plugin's command-line options (``--flat``) and its configuration checks.

The values are in ``x86_options(config)`` (``config.options_of("x86")``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmm import hookimpl
from vmm.core.errors import ConfigError

if TYPE_CHECKING:
    from vmm.core.config import Config
    from vmm.core.options import OptionGroup, OptionValues

#: The plugin's name (its entry point), under which its options are bound.
PLUGIN = "x86"
#: Enough for low memory, the boot structures and a kernel above 1 MiB.
MIN_MEM_MIB = 4


def x86_options(config: Config) -> OptionValues:
    """The x86 options of ``config``, read-only."""
    return config.options_of(PLUGIN)


@hookimpl
def vmm_addoption(group: OptionGroup) -> None:
    """``--flat``: boot a flat real-mode binary (never guessed from the file)."""
    group.addoption("--flat", type=bool, help="The kernel is a flat real-mode binary, "
                    "run at 1000:0000 (x86 recognises bzImage and ELF64 kernels itself).")


@hookimpl
def vmm_validate_config(config: Config) -> None:
    """Refuse too little memory or too many vCPUs for an MP table."""
    if config.arch != "x86":
        return
    if 0 < config.mem_mib < MIN_MEM_MIB:
        raise ConfigError(f"-m {config.mem_mib}: an x86 guest needs at least {MIN_MEM_MIB} MiB")
    from .mptable import MAX_CPUS

    if config.cpus > MAX_CPUS:
        raise ConfigError(f"-c {config.cpus}: x86 guests find their CPUs in an MP table, "
                          f"which describes at most {MAX_CPUS}; use fewer")
