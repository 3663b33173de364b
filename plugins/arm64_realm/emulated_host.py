"""``vmm nested --arch arm64 --rme``: the Arm CCA host kit instead of Debian's kernel.

A layer on the arm64 emulated host: the same Debian Python and vmm, booted by the
kit's firmware (TF-A, TF-RMM, the cca-host/v7 kernel) on QEMU's ``-cpu
max,x-rme=on``, so that realms run against a real RMM. The kit is found by
:func:`.kit.find_kit`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vmm import hookimpl

if TYPE_CHECKING:  # pragma: no cover - annotations only
    from collections.abc import Generator

    from vmm.core.nested.spec import EmulatedHost
    from vmm.core.options import OptionGroup


@hookimpl
def vmm_nested_addoption(group: OptionGroup) -> None:
    """Declare ``--rme`` and ``--cca-kit`` for ``vmm nested``."""
    group.addoption("--rme", type=bool,
                    help="Boot the emulated Arm CCA host (QEMU -cpu max,x-rme=on with "
                         "TF-A, TF-RMM and a cca-host/v7 kernel) so realms run for real; "
                         "with --arch arm64.")
    group.addoption("--cca-kit", metavar="DIR",
                    help="The Arm CCA host kit for --rme (default: $VMM_CCA_KIT, else "
                         "what scripts/build-cca-kit built, else ../shared/cca next to "
                         "this checkout).")


@hookimpl(wrapper=True)
def vmm_emulated_host(arch: str, options: dict[str, Any]
                      ) -> Generator[None, EmulatedHost | None, EmulatedHost | None]:
    """With ``--rme``, turn the arm64 host into the one the CCA kit's firmware boots."""
    import dataclasses

    from vmm.core.errors import ConfigError
    from vmm.core.nested.spec import FirmwareBoot

    from . import kit

    host = yield
    if not options.get("rme"):
        if options.get("cca_kit"):
            raise ConfigError("--cca-kit valid only with --rme: add --rme or drop it")
        return host
    if arch != "arm64" or host is None:
        raise ConfigError(f"--rme needs --arch arm64 (the Arm CCA host is arm64), not {arch}")
    directory = kit.find_kit(options.get("cca_kit"))
    boot = FirmwareBoot(
        firmware=directory / kit.FIRMWARE, qemu_machine_args=kit.QEMU_MACHINE,
        description=f"the Arm CCA host kit in {directory}",
        payload_tag=kit.PAYLOAD_TAG, payload_mount=kit.PAYLOAD_MOUNT,
    )
    return dataclasses.replace(host, firmware_boot=boot)
