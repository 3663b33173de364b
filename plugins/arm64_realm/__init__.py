"""Arm CCA realms (the "[RFC kvmtool 00/31] arm64: Support for Arm CCA" series), layered
onto the arm64 plugin, through the series' RFC-v1 host UABI or the v7 one
(:mod:`.generation`: detected, or ``--realm-uabi``).

Registered after arm64: ``wrapper=True`` hooks adjust arm64's results (VM type, vCPU
features, boot registers, PSCI conduit, model of KVM) and plain hooks add the
realm's steps. The realm's state lives in ``vm.stash[REALM_KEY]`` (:mod:`.state`). Heavy imports (cffi,
the RMM model) happen inside the hooks, and the hook modules only when the layer is
registered or asked for its commands (:mod:`vmm.core.lazyhooks`), so ``vmm --help``
and runs on other architectures stay fast.
"""

from vmm.core.lazyhooks import lazy_hooks

VMM_LAYER_FOR = "arm64"

__getattr__, __dir__ = lazy_hooks(__name__)
