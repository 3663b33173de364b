"""What a realm changes once it runs, and the model of KVM it is tested against.

PSCI through SMC (patch 23), no register dumps (patch 24), an SEA for an MMIO access
no device claimed (patch 30), VIRTIO_F_ACCESS_PLATFORM on every virtio device
(patch 28), and a realm-capable kernel (RFC-v1 or v7) layered on arm64's model of KVM.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from vmm import hookimpl

from .state import realm_state
from .uapi import VIRTIO_F_ACCESS_PLATFORM

if TYPE_CHECKING:  # pragma: no cover
    from vmm.core.bus import Access
    from vmm.core.config import Config
    from vmm.core.contracts import VirtioDevice
    from vmm.core.model.base import ArchModel
    from vmm.core.vcpu import Vcpu
    from vmm.core.vm import Vm

#: What a register dump of a realm vCPU says instead (kvmtool prints "UNACCESSIBLE").
REGISTERS_INACCESSIBLE = "registers of a realm vCPU are not accessible"
_ACCESS_PLATFORM = 1 << VIRTIO_F_ACCESS_PLATFORM


@hookimpl(wrapper=True)
def vmm_psci_method(vm: Vm) -> Generator[None, str | None, str | None]:
    """A realm's PSCI calls go to the RMM: conduit "smc" instead of arm64's "hvc"."""
    method = yield
    return "smc" if realm_state(vm) is not None else method


@hookimpl
def vmm_register_dump(vcpu: Vcpu) -> str | None:
    """Refuse to dump a realm vCPU's registers.

    A plain implementation rather than a wrapper: being the layer's, it is asked
    before arm64's, and its answer stops the hook, so arm64 never reads the
    registers of a realm vCPU (a wrapper could only replace the dump once made).
    """
    return REGISTERS_INACCESSIBLE if realm_state(vcpu.vm) is not None else None


@hookimpl
def vmm_mmio_unhandled(vcpu: Vcpu, access: Access) -> None:
    """Inject a synchronous external abort: the realm learns nothing is there."""
    state = realm_state(vcpu.vm)
    if state is None:
        return
    injector = state.injectors.get(vcpu.id)
    if injector is None:
        from .calls import AbortInjector

        injector = state.injectors[vcpu.id] = AbortInjector(vcpu.fd)
    injector.inject()


@hookimpl
def vmm_virtio_host_features(vm: Vm, device: VirtioDevice) -> int:
    """Realm devices must use the DMA API (bounce buffers in shared memory)."""
    return _ACCESS_PLATFORM if realm_state(vm) is not None else 0


@hookimpl(wrapper=True)
def vmm_kvm_model(config: Config) -> Generator[None, Any, ArchModel | None]:
    """Wrap arm64's model of KVM in a realm-capable kernel and an RMM model.

    Every arm64 model gets the layer (a kernel with realm support serves normal VMs
    as before). Its generation is ``--model-rme``, else the one ``--realm-uabi`` or
    ``--rmm`` asks for, else RFC-v1; its RMM is the one that generation shipped with.
    """
    inner = yield
    if inner is None:
        return None
    from .model import RealmModel
    from .options import RFC_V1, realm_settings

    settings = realm_settings(config)
    return RealmModel(inner, generation=settings.model_generation if settings else RFC_V1)
