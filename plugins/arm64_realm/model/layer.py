"""The RFC-v1 kernel's realm support, as a layer over the arm64 model of KVM.

:class:`RealmModel` wraps the arm64 plugin's :class:`ArchModel` and adds what the
linux-cca ``cca-host/rfc-v1`` kernel adds: the realm VM type, KVM_CAP_ARM_RME and its
state machine (NONE -> NEW -> ACTIVE), REC creation through
KVM_ARM_VCPU_FINALIZE(KVM_ARM_VCPU_REC), the register and event restrictions on realm
vCPUs, and the capability answers of a realm VM fd. It answers with the kernel's
errnos (rme-rfc-v1-uabi §1.2, §3); where the kernel would pass an RMM refusal on,
the model says ENXIO, as the kernel does for a failed RMI call (REALM_ACTIVATE,
REC_CREATE, DATA_CREATE):

- a REC created out of MPIDR order (the RMM takes REC ``i`` only when ``i`` RECs
  exist, so vCPUs must be finalised in ascending MPIDR order, none skipped);
- a page populated twice (DATA_CREATE needs an unassigned granule);
- an INIT_IPA or POPULATE range reaching the unprotected half of the IPA space, or
  an INIT_IPA base that is not 4 KiB aligned.

POPULATE checks its whole range before it copies any page, so a refused call leaves
the realm as it was.
"""

from __future__ import annotations

import errno
import struct
from typing import Any

from vmm.core.model.base import ArchModel, ArchModelLayer, ModelErrno
from vmm.core.model.decode import UserMemory
from vmm.core.model.state import VmState

from .. import uapi
from ..rmm import HashAlgorithm, RmmProfile
from ..rmm.profiles import DEFAULT_PROFILE
from ..rmm.rtt import protected_limit
from . import formats, rmi
from .realm import REALM_VM_KEY, RealmVm, RmeState, RmmFeatures, realm_of
from .rmi import rmm_call
from .vcpus import RealmVcpuRules

#: The IPA width of a VM type whose IPA field is 0.
DEFAULT_IPA_BITS = 40
MIN_IPA_BITS = 32


class RealmModel(RealmVcpuRules, ArchModelLayer):
    """The arm64 model plus the RFC-v1 kernel's realm interface and an RMM model.

    :param inner: The arm64 plugin's model.
    :param rmm: The RMM profile the recorded plans are measured under.
    :param features: What the modelled RMM supports.
    """

    vcpu_ioctls = formats.VCPU_IOCTLS

    def __init__(self, inner: ArchModel, rmm: RmmProfile = DEFAULT_PROFILE,
                 features: RmmFeatures | None = None) -> None:
        super().__init__(inner)
        self.rmm = rmm
        self.features = features or RmmFeatures()
        #: Every realm VM created on this model, in order.
        self.realms: list[RealmVm] = []

    # ------------------------------------------------------------ VM type and caps

    def validate_vm_type(self, vm_type: int) -> None:
        """Accept the realm type with an IPA width the RMM supports; else ask arm64."""
        if vm_type & ~(uapi.KVM_VM_TYPE_ARM_MASK | uapi.KVM_VM_TYPE_ARM_IPA_SIZE_MASK):
            raise ModelErrno(errno.EINVAL, f"machine type {vm_type:#x} has unknown bits")
        kind = vm_type & uapi.KVM_VM_TYPE_ARM_MASK
        if kind == uapi.KVM_VM_TYPE_ARM_NORMAL:
            self.inner.validate_vm_type(vm_type)
            return
        if kind != uapi.KVM_VM_TYPE_ARM_REALM:
            raise ModelErrno(errno.EINVAL, f"machine type field {kind >> 8} is unknown")
        ipa_bits = vm_type & uapi.KVM_VM_TYPE_ARM_IPA_SIZE_MASK
        if ipa_bits and not MIN_IPA_BITS <= ipa_bits <= self.features.max_ipa_bits:
            raise ModelErrno(
                errno.EINVAL,
                f"realm IPA size {ipa_bits} outside {MIN_IPA_BITS}..{self.features.max_ipa_bits}",
            )

    def new_vm(self, vm: VmState) -> None:
        """Set up the arm64 state; a realm type also gets its (NONE) realm state."""
        self.inner.new_vm(vm)
        if vm.vm_type & uapi.KVM_VM_TYPE_ARM_MASK == uapi.KVM_VM_TYPE_ARM_REALM:
            realm = RealmVm(vm.vm_type & uapi.KVM_VM_TYPE_ARM_IPA_SIZE_MASK or DEFAULT_IPA_BITS)
            vm.arch[REALM_VM_KEY] = realm
            self.realms.append(realm)

    def check_extension(self, vm: VmState | None, cap: int) -> int:
        """RME is available; a realm VM fd hides stolen time and reports the RMM's SVE."""
        if cap == uapi.KVM_CAP_ARM_RME:
            return 1
        if vm is not None and realm_of(vm) is not None:
            if cap == uapi.KVM_CAP_STEAL_TIME:
                return 0
            if cap == uapi.KVM_CAP_ARM_SVE:
                return int(self.features.sve)
        return self.inner.check_extension(vm, cap)

    # ------------------------------------------------------------ KVM_CAP_ARM_RME

    def enable_cap(self, vm: VmState, cap: int, flags: int, args: tuple[int, ...]) -> Any:
        """KVM_ENABLE_CAP: the realm sub-commands, anything else to arm64."""
        if cap != uapi.KVM_CAP_ARM_RME:
            return self.inner.enable_cap(vm, cap, flags, args)
        if flags:
            raise ModelErrno(errno.EINVAL, "KVM_CAP_ARM_RME takes no flags")
        realm = realm_of(vm)
        if realm is None:
            raise ModelErrno(errno.EINVAL, "not a realm VM")
        command, pointer = args[0], args[1]
        name = uapi.RME_SUBCOMMAND_NAMES.get(command)
        handler = getattr(self, f"_rme_{name.lower()}", None) if name else None
        if handler is None:
            raise ModelErrno(errno.EINVAL, f"unknown KVM_CAP_ARM_RME command {command}")
        detail = handler(vm, realm, pointer)
        return 0, f"cap={cap} {name}{detail}"

    def _rme_config_realm(self, vm: VmState, realm: RealmVm, pointer: int) -> str:
        if realm.state is not RmeState.NONE:
            raise ModelErrno(errno.EBUSY, "realm already created")
        cfg, payload = UserMemory.unpack(formats.CONFIG_ITEM, pointer)
        (word,) = struct.unpack_from(formats.CONFIG_U32, payload)
        if cfg == uapi.RME_CFG_RPV:
            realm.rpv = payload[: uapi.RME_RPV_SIZE]
            return f"(RPV {realm.rpv.rstrip(bytes(1))!r})"
        if cfg == uapi.RME_CFG_HASH_ALGO:
            if word not in self.features.hash_algorithms:
                raise ModelErrno(errno.EINVAL, f"hash algorithm {word} not supported")
            realm.hash_algo = HashAlgorithm(word)
            return f"(HASH_ALGO {realm.hash_algo.label})"
        if cfg == uapi.RME_CFG_SVE:
            if not self.features.sve or word > self.features.max_sve_vq:
                raise ModelErrno(errno.EINVAL, f"SVE VQ-1 {word} not supported by the RMM")
            realm.sve_vq = word
            return f"(SVE vq={word})"
        # DBG and PMU are defined but the RFC-v1 kernel refuses them, like any other.
        raise ModelErrno(errno.EINVAL, f"realm config {uapi.RME_CFG_NAMES.get(cfg, cfg)} refused")

    def _rme_create_rd(self, vm: VmState, realm: RealmVm, pointer: int) -> str:
        if vm.vcpus:
            raise ModelErrno(errno.EBUSY, "vCPUs already created")
        if realm.state is not RmeState.NONE:
            raise ModelErrno(errno.EEXIST, "realm descriptor exists")
        rmm_call(rmi.realm_create, realm, self.features, self.rmm)
        realm.state = RmeState.NEW
        return ""

    def _rme_init_ipa_realm(self, vm: VmState, realm: RealmVm, pointer: int) -> str:
        self._require_new(realm)
        base, size = UserMemory.unpack(formats.INIT_IPA_ARGS, pointer)
        end = base + size
        if end > (1 << 64) - 1:
            raise ModelErrno(errno.EINVAL, "range wraps around")
        if size:
            if base % uapi.REALM_PAGE_SIZE:
                raise ModelErrno(errno.ENXIO, f"RMM refuses unaligned IPA {base:#x}")
            # The kernel walks whole pages while below the end.
            self._check_protected(realm, base, uapi.align_up(end))
            rmm_call(rmi.init_ripas, realm, base, uapi.align_up(end))
        return f"(base={base:#x} size={size:#x})"

    def _rme_populate_realm(self, vm: VmState, realm: RealmVm, pointer: int) -> str:
        self._require_new(realm)
        base, size = UserMemory.unpack(formats.POPULATE_ARGS, pointer)
        if base % uapi.REALM_PAGE_SIZE or size % uapi.REALM_PAGE_SIZE:
            raise ModelErrno(errno.EINVAL, "populate range not 4 KiB aligned")
        if base + size > (1 << 64) - 1:
            raise ModelErrno(errno.EINVAL, "range wraps around")
        slot = vm.memslot_for(base)
        if slot is None:
            raise ModelErrno(errno.EFAULT, f"no memslot at {base:#x}")
        if not slot.contains(base, size):
            raise ModelErrno(errno.EINVAL, "populate range crosses a memslot's end")
        if size:
            self._check_protected(realm, base, base + size)
        pages = range(base, base + size, uapi.REALM_PAGE_SIZE)
        twice = next((ipa for ipa in pages if ipa in realm.populated), None)
        if twice is not None:
            raise ModelErrno(errno.ENXIO, f"RMM refuses DATA_CREATE at {twice:#x}: populated")
        host = slot.userspace_addr - slot.guest_phys_addr
        for ipa in pages:
            rmm_call(rmi.populate_page, realm, ipa,
                      UserMemory.read(host + ipa, uapi.REALM_PAGE_SIZE))
        if size:
            realm.rmi_log.append(
                f"{len(pages)} x (RTT_INIT_RIPAS level 3 + DATA_CREATE measured) "
                f"{base:#x}..{base + size:#x}"
            )
        return f"(base={base:#x} size={size:#x})"

    def _rme_activate_realm(self, vm: VmState, realm: RealmVm, pointer: int) -> str:
        self._require_new(realm)
        realm.state = RmeState.ACTIVE
        realm.rmi_log.append("REALM_ACTIVATE")
        return ""

    @staticmethod
    def _require_new(realm: RealmVm) -> None:
        if realm.state is not RmeState.NEW:
            raise ModelErrno(errno.EBUSY, f"realm state is {realm.state.value}, not new")

    @staticmethod
    def _check_protected(realm: RealmVm, base: int, top: int) -> None:
        limit = protected_limit(realm.ipa_bits)
        if top > limit:
            raise ModelErrno(errno.ENXIO, f"RMM refuses {base:#x}..{top:#x}: above {limit:#x}")
