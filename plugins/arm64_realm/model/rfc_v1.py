"""The RFC-v1 kernel's realm support (linux-cca cca-host/rfc-v1, arch/arm64/kvm/rme.c).

KVM_CAP_ARM_RME sub-commands in ``kvm_realm_enable_cap``'s order of checks, on any
VM (the RFC-v1 kernel doesn't ask whether the VM is a realm first):

- CONFIG_REALM: EBUSY after CREATE_RD; RPV, HASH_ALGO (RMM-supported) and SVE (VQ-1
  within the RMM's) accepted, anything else EINVAL. On a normal VM the kernel then
  writes through the VM's absent realm parameters (a NULL pointer): no errno is
  right, the model accepts and ignores it.
- CREATE_RD: EBUSY once a vCPU exists; EEXIST on a normal VM or a second time.
- INIT_IPA_REALM: EINVAL if the range wraps; EBUSY unless NEW (a normal VM included).
  Then, block by block from ``find_map_level`` (never coarser than the starting
  level + 1: a 33/34-bit realm gets level 3 only), RMI_RTT_INIT_RIPAS(ipa, level),
  creating the RTTs the RMM asks for, and going one level finer where a finer
  table already exists (``realm_init_ipa_state``).
- POPULATE_REALM: EBUSY unless NEW; EINVAL unaligned or wrapping; EFAULT without a
  memslot, EINVAL across a memslot's end; then per page RTT_INIT_RIPAS(ipa, 3) and a
  measured DATA_CREATE; a page the RMM refuses (populated already, not protected)
  ends the call with ENXIO, the pages before it populated.
- ACTIVATE_REALM: EBUSY unless NEW.

vCPUs: FINALIZE(7) creates the REC from x0-x7 and PC (EINVAL on a normal VM or without
PSCI_0_2, ENOENT unless NEW, ENXIO out of MPIDR order); only x0-x7 and PC can be set;
KVM_RUN is EPERM until the REC exists and the realm is ACTIVE.
"""

from __future__ import annotations

import errno
import struct
from typing import Any

from vmm.core.model.base import ModelErrno
from vmm.core.model.decode import UserMemory
from vmm.core.model.state import VcpuState, VmState

from .. import uapi
from ..rfc_v1 import uapi as v1
from ..rmm import HashAlgorithm
from ..rmm.rtt import LAST_LEVEL, RttEntry, entry_size
from ..rmm.rtt_state import RmiStatus, RttState
from . import formats, rmi
from .kernel import KernelModel
from .realm import RealmVm, RmeState, realm_of, realm_vcpu
from .rmi import RmmRefused, rmm_call

_U64_MAX = (1 << 64) - 1


class RfcV1Kernel(KernelModel):
    """The RFC-v1 series' kernel."""

    name = "rfc-v1"
    subcommands = v1.SUBCOMMAND_NAMES
    rec_feature = v1.KVM_ARM_VCPU_REC

    # ------------------------------------------------------------ sub-commands

    def rme_config_realm(self, vm: VmState, realm: RealmVm | None, pointer: int) -> str:
        if realm is not None and realm.state is not RmeState.NONE:
            raise ModelErrno(errno.EBUSY, "realm already created")
        cfg, payload = UserMemory.unpack(formats.CONFIG_ITEM, pointer)
        (word,) = struct.unpack_from(formats.CONFIG_U32, payload)
        if cfg == uapi.RME_CFG_RPV:
            detail = f"(RPV {payload[:uapi.RME_RPV_SIZE].rstrip(bytes(1))!r})"
            if realm is not None:
                realm.rpv = payload[: uapi.RME_RPV_SIZE]
        elif cfg == uapi.RME_CFG_HASH_ALGO:
            if word not in self.features.hash_algorithms:
                raise ModelErrno(errno.EINVAL, f"hash algorithm {word} not supported")
            detail = f"(HASH_ALGO {HashAlgorithm(word).label})"
            if realm is not None:
                realm.hash_algo = HashAlgorithm(word)
        elif cfg == v1.RME_CFG_SVE:
            if not self.features.sve or word > self.features.max_sve_vq:
                raise ModelErrno(errno.EINVAL, f"SVE VQ-1 {word} not supported by the RMM")
            detail = f"(SVE vq={word})"
            if realm is not None:
                realm.sve_vq = word
        else:  # DBG and PMU are defined but refused, like any other item
            raise ModelErrno(errno.EINVAL, f"realm config {v1.CFG_NAMES.get(cfg, cfg)} refused")
        return detail if realm is not None else f"{detail} on a normal VM: ignored"

    def rme_create_rd(self, vm: VmState, realm: RealmVm | None, pointer: int) -> str:
        if vm.vcpus:
            raise ModelErrno(errno.EBUSY, "vCPUs already created")
        if realm is None or realm.state is not RmeState.NONE:
            raise ModelErrno(errno.EEXIST, "not a realm, or its descriptor exists")
        rmm_call(rmi.realm_create, realm, rmi.rfc_v1_realm_params(realm, self.features), self.rmm)
        realm.state = RmeState.NEW
        return ""

    def rme_init_ipa_realm(self, vm: VmState, realm: RealmVm | None, pointer: int) -> str:
        base, size = UserMemory.unpack(formats.INIT_IPA_ARGS, pointer)
        end = base + size
        if end > _U64_MAX:
            raise ModelErrno(errno.EINVAL, "range wraps around")
        realm = _require_new(realm)
        rtt = rmi.rtt_of(realm)
        entries: list[RttEntry] = []
        address, error = base, 0
        while address < end and not error:
            level = self._find_map_level(rtt, address, end)
            error = _init_ipa_state(rtt, address, address + entry_size(level), level, entries)
            address += entry_size(level)
        rmm_call(rmi.ripas_blocks, realm, entries)  # what the RMM measured, up to a failure
        _log_blocks(realm, entries)
        if error:
            raise ModelErrno(error, f"RMM refused RTT_INIT_RIPAS below {address:#x}")
        return f"(base={base:#x} size={size:#x})"

    @staticmethod
    def _find_map_level(rtt: RttState, start: int, end: int) -> int:
        """The kernel's ``find_map_level``: the coarsest level, never coarser than the
        starting level + 1, whose block is aligned at ``start`` and ends by ``end``."""
        level = LAST_LEVEL
        while level > rtt.start_level + 1:
            size = entry_size(level - 1)
            if start % size or start + size > end:
                break
            level -= 1
        return level

    def rme_populate_realm(self, vm: VmState, realm: RealmVm | None, pointer: int) -> str:
        realm = _require_new(realm)
        base, size = UserMemory.unpack(formats.POPULATE_ARGS, pointer)
        if base % uapi.REALM_PAGE_SIZE or size % uapi.REALM_PAGE_SIZE:
            raise ModelErrno(errno.EINVAL, "populate range not 4 KiB aligned")
        if base + size > _U64_MAX:
            raise ModelErrno(errno.EINVAL, "range wraps around")
        slot = vm.memslot_for(base)
        if slot is None:
            raise ModelErrno(errno.EFAULT, f"no memslot at {base:#x}")
        if not slot.contains(base, size):
            raise ModelErrno(errno.EINVAL, "populate range crosses a memslot's end")
        rtt = rmi.rtt_of(realm)
        host = slot.userspace_addr - slot.guest_phys_addr
        done = 0
        for ipa in range(base, base + size, uapi.REALM_PAGE_SIZE):
            page = UserMemory.read(host + ipa, uapi.REALM_PAGE_SIZE)
            try:
                _populate_page(realm, rtt, ipa, page)
            except RmmRefused as error:
                _log_populated(realm, base, done)
                raise ModelErrno(errno.ENXIO, f"RMM refused: {error}") from None
            done += 1
        _log_populated(realm, base, done)
        return f"(base={base:#x} size={size:#x})"

    def rme_activate_realm(self, vm: VmState, realm: RealmVm | None, pointer: int) -> str:
        realm = _require_new(realm)
        realm.state = RmeState.ACTIVE
        realm.rmi_log.append("REALM_ACTIVATE")
        return ""

    # ------------------------------------------------------------ vCPUs

    def finalize_rec(self, vcpu: VcpuState) -> Any:
        state = realm_vcpu(vcpu)
        realm = realm_of(vcpu.vm)
        if realm is None:
            raise ModelErrno(errno.EINVAL, "KVM_ARM_VCPU_REC on a normal VM")
        if realm.state is not RmeState.NEW:
            raise ModelErrno(errno.ENOENT, f"realm state is {realm.state.value}, not new")
        if not (state.features or 0) >> uapi.KVM_ARM_VCPU_PSCI_0_2 & 1:
            raise ModelErrno(errno.EINVAL, "a REC needs KVM_ARM_VCPU_PSCI_0_2")
        gprs = [self.register(vcpu, formats.gpr_id(n)) for n in range(formats.REC_GPRS)]
        rmm_call(rmi.rec_create, realm, vcpu.vcpu_id, self.register(vcpu, formats.PC_ID), gprs)
        state.has_rec = True
        return 0, "feature=REC"

    def settable(self, vcpu: VcpuState, reg_id: int) -> bool:
        return reg_id in _SETTABLE

    def before_run(self, vcpu: VcpuState, realm: RealmVm) -> None:
        """KVM_RUN: the vCPU's REC exists and the realm is active, else EPERM."""
        if realm.state is not RmeState.ACTIVE or not realm_vcpu(vcpu).has_rec:
            raise ModelErrno(errno.EPERM, "realm vCPU not finalised or realm not active")


_SETTABLE = formats.settable_core_regs(v1.SETTABLE_GPRS)


def _require_new(realm: RealmVm | None) -> RealmVm:
    """INIT_IPA, POPULATE and ACTIVATE need a NEW realm (a normal VM is NONE): EBUSY."""
    if realm is None or realm.state is not RmeState.NEW:
        state = realm.state.value if realm is not None else "none (a normal VM)"
        raise ModelErrno(errno.EBUSY, f"realm state is {state}, not new")
    return realm


def _init_ipa_state(rtt: RttState, ipa: int, end: int, level: int, done: list[RttEntry]) -> int:
    """The kernel's ``realm_init_ipa_state``: RTT_INIT_RIPAS(ipa, level) over
    ``[ipa, end)``; the measured entries go to ``done``; returns 0 or the errno."""
    size = entry_size(level)
    while ipa < end:
        result = rtt.init_ripas_block(ipa, level)
        if result.status is RmiStatus.ERROR_RTT:
            if result.level < level:
                if not _create_levels(rtt, ipa, result.level, level):
                    return errno.ENXIO
                continue  # retry with the tables in place
            if level >= LAST_LEVEL:
                return errno.EINVAL  # the kernel WARNs: an assigned page
            _init_ipa_state(rtt, ipa, ipa + size, level + 1, done)  # result ignored
        elif not result.ok:
            return errno.ENXIO
        else:
            done.extend(result.entries)
        ipa += size
    return 0


def _create_levels(rtt: RttState, ipa: int, level: int, max_level: int) -> bool:
    """RFC-v1 ``realm_create_rtt_levels``: RTT_CREATE below ``level``; any error fails."""
    while level < max_level:
        level += 1
        if not rtt.rtt_create(ipa, level).ok:
            return False
    return True


def _populate_page(realm: RealmVm, rtt: RttState, ipa: int, page: bytes) -> None:
    """``populate_par_region`` for one page: RTT_INIT_RIPAS(ipa, 3), then DATA_CREATE."""
    result = rtt.init_ripas_block(ipa, LAST_LEVEL)
    if result.status is RmiStatus.ERROR_RTT:
        if result.level < LAST_LEVEL and not _create_levels(rtt, ipa, result.level, LAST_LEVEL):
            raise RmmRefused(f"RTT_CREATE for {ipa:#x}")
        result = rtt.init_ripas_block(ipa, LAST_LEVEL)
    if not result.ok:
        raise RmmRefused(f"RTT_INIT_RIPAS at {ipa:#x}: {result.status.value}")
    if not rtt.data_create(ipa).ok:
        raise RmmRefused(f"DATA_CREATE at {ipa:#x}")
    rmi.ripas_blocks(realm, result.entries)
    rmi.data_create(realm, ipa, page, True)


def _log_blocks(realm: RealmVm, entries: list[RttEntry]) -> None:
    """One log line per run of same-level INIT_RIPAS blocks."""
    index = 0
    while index < len(entries):
        level = entries[index].level
        run = index
        while run < len(entries) and entries[run].level == level:
            run += 1
        realm.rmi_log.append(f"{run - index} x RTT_INIT_RIPAS(level {level}) "
                             f"{entries[index].base:#x}..{entries[run - 1].top:#x}")
        index = run


def _log_populated(realm: RealmVm, base: int, pages: int) -> None:
    if pages:
        realm.rmi_log.append(
            f"{pages} x (RTT_INIT_RIPAS level 3 + DATA_CREATE measured) "
            f"{base:#x}..{base + pages * uapi.REALM_PAGE_SIZE:#x}"
        )
