"""x86 configuration checks (x86 declares no options of its own)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmm import hookimpl
from vmm.core.errors import ConfigError

if TYPE_CHECKING:
    from vmm.core.config import Config

#: Enough for low memory, the boot structures and a kernel above 1 MiB.
MIN_MEM_MIB = 4


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
