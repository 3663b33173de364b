"""What the modelled arm64 KVM host offers: a profile tests and ``--model-host`` set.

``--model-host "ipa=36,sve=0,gicv3=0,gicv2=1"`` changes the defaults for one
``--dry-run``; tests give a model built on a :class:`ModelHost` through a plugin of
their own (``vmm_kvm_model``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from vmm.core.errors import ConfigError


@dataclass(frozen=True)
class ModelHost:
    """The capabilities and devices of a modelled arm64 KVM host."""

    #: KVM_CAP_ARM_VM_IPA_SIZE; 0 models a kernel without the capability (40 bits).
    ipa: int = 40
    psci_0_2: bool = True
    sve: bool = True
    pmu: bool = True
    ptrauth: bool = True
    steal_time: bool = True
    mte: bool = False
    gicv3: bool = True
    gicv2: bool = False
    #: KVM's GICv3 ITS (KVM_DEV_TYPE_ARM_VGIC_ITS; needs gicv3).
    its: bool = True
    #: The SError syndrome can be set (RAS extension, KVM_CAP_ARM_INJECT_SERROR_ESR).
    ras: bool = True
    #: Hardware breakpoints and watchpoints (ID_AA64DFR0_EL1.BRPs/WRPs + 1; what
    #: KVM_CAP_GUEST_DEBUG_HW_BPS/WPS report). 6 and 4, as on Arm's FVP and on QEMU's
    #: ``-cpu max`` (the emulated CCA host's DFR0 reads 0x1030500a).
    bps: int = 6
    wps: int = 4
    #: PMU event counters (PMCR_EL0.N) when there is a PMU.
    pmu_counters: int = 6

    @classmethod
    def parse(cls, text: str) -> ModelHost:
        """Build a profile from ``key=value,...`` (booleans as 0/1, counts as numbers)."""
        known = {field.name: field.type for field in fields(cls)}
        values: dict[str, object] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, sep, raw = item.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or key not in known:
                raise ConfigError(
                    f"--model-host: {item!r} is not key=value with a key among "
                    f"{', '.join(known)}"
                )
            try:
                number = int(raw, 0)
            except ValueError:
                raise ConfigError(f"--model-host: {key} wants a number, not {raw!r}") from None
            values[key] = number if known[key] == "int" else bool(number)
        return replace(cls(), **values)  # type: ignore[arg-type]


def model_host_from_options(option: str | None) -> ModelHost:
    """The profile ``--model-host`` describes (the default one when not given)."""
    return ModelHost.parse(option) if option else ModelHost()
