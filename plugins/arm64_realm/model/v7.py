"""The v7 kernel's realm support (linux-cca cca-host/v7, arch/arm64/kvm/rme.c), as
the emulated CCA host runs it; its answers are the 31 errnos measured there
(../shared/cca/reference/README.md), each a test case.

KVM_CAP_ARM_RME sub-commands (EINVAL on a VM that is not a realm):

- CONFIG_REALM: EBUSY once the realm exists; RPV and HASH_ALGO only (else EINVAL).
- CREATE_REALM: EEXIST the second time. The parameters come from the VM's vCPUs:
  breakpoints and watchpoints from ID_AA64DFR0_EL1 (zero, so refused by the RMM:
  ENXIO, until a vCPU is initialised), SVE from the vCPUs' finalized vector lengths
  (EINVAL if one isn't finalized or they differ), the PMU and PMCR_EL0.N when the
  vCPUs have one; the RMM refuses what it can't give (ENXIO).
- INIT_RIPAS_REALM: EINVAL if the range wraps or the realm isn't NEW; then
  RMI_RTT_INIT_RIPAS(base, top) walks one table per call, the kernel creating the
  tables the RMM asks for down to ``find_map_level`` (here as coarse as the starting
  level); an unaligned range is ENXIO (the kernel WARNs). No memslot is needed.
- POPULATE_REALM: EINVAL unless NEW, unaligned, with an unknown flag, or wrapping;
  per 2 MiB: EFAULT without a memslot, EINVAL across its end or on a memslot without
  guest_memfd; per page DATA_CREATE (measured with the MEASURE flag), creating the
  level-3 table it needs; a page the RMM refuses ends the call with ENXIO.
- ACTIVATE_REALM: EINVAL unless NEW (so the second time too).

The vCPU rules are in :mod:`.v7_vcpus`.
"""

from __future__ import annotations

import errno
import struct

from vmm.core.model.base import ModelErrno
from vmm.core.model.decode import UserMemory
from vmm.core.model.state import VcpuState, VmState

from .. import uapi
from ..rmm import HashAlgorithm, RealmParams
from ..rmm.realm_params import FLAG_PMU, FLAG_SVE
from ..rmm.rtt import LAST_LEVEL, entry_size
from ..rmm.rtt_state import RmiStatus, RttState
from ..v7 import uapi as v7
from . import formats, rmi
from .kernel import KernelModel
from .realm import RealmVm, RmeState
from .rmi import RmmRefused, rmm_call
from .v7_vcpus import V7VcpuRules, vcpu_has

_U64_MAX = (1 << 64) - 1
#: The kernel populates in 2 MiB parts, each checked against its memslot.
POPULATE_CHUNK = 2 << 20


class V7Kernel(V7VcpuRules, KernelModel):
    """The v7 series' kernel."""

    name = "v7"
    subcommands = v7.SUBCOMMAND_NAMES
    private_memory = True
    irqfd = False
    vcpu_ioctls = formats.V7_VCPU_IOCTLS
    rec_feature = v7.KVM_ARM_VCPU_REC

    # ------------------------------------------------------------ sub-commands

    def rme_config_realm(self, vm: VmState, realm: RealmVm, pointer: int) -> str:
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
        raise ModelErrno(errno.EINVAL, f"realm config item {cfg} is not RPV or HASH_ALGO")

    def rme_create_realm(self, vm: VmState, realm: RealmVm, pointer: int) -> str:
        if realm.state is not RmeState.NONE:
            raise ModelErrno(errno.EEXIST, "realm already created")
        params = self._realm_params(vm, realm)
        rmm_call(_checked_create, realm, params, self)
        realm.state = RmeState.NEW
        return ""

    def _realm_params(self, vm: VmState, realm: RealmVm) -> RealmParams:
        """``realm_create_rd``'s RmiRealmParams, from the VM's vCPUs."""
        vcpus = [vm.vcpus[index] for index in sorted(vm.vcpus)]
        initialised = [vcpu for vcpu in vcpus if vcpu.arch.get("target") is not None]
        dfr0 = self.register(initialised[0], formats.DFR0_ID) if initialised else 0
        flags, sve_vl, pmu_counters = 0, 0, 0
        vector_lengths = {self._sve_vq(vcpu) for vcpu in vcpus}
        if len(vector_lengths) > 1:
            raise ModelErrno(errno.EINVAL, "the vCPUs' SVE configurations differ")
        (vq,) = vector_lengths or {0}
        if vq:
            flags, sve_vl = flags | FLAG_SVE, vq - 1
        with_pmu = [vcpu for vcpu in vcpus if vcpu_has(vcpu, uapi.KVM_ARM_VCPU_PMU_V3)]
        if with_pmu:
            flags |= FLAG_PMU
            pmu_counters = self.register(with_pmu[0], formats.PMCR_ID) >> formats.PMCR_N_SHIFT & 0x1F
        return RealmParams(
            flags=flags, s2sz=realm.ipa_bits, sve_vl=sve_vl,
            num_bps=dfr0 >> formats.DFR0_BRPS_SHIFT & 0xF,
            num_wps=dfr0 >> formats.DFR0_WRPS_SHIFT & 0xF,
            pmu_num_ctrs=pmu_counters, hash_algo=realm.hash_algo,
        )

    def _sve_vq(self, vcpu: VcpuState) -> int:
        """The longest SVE vector of a vCPU in quadwords (0 without SVE); EINVAL if
        its SVE isn't finalized (``realm_init_sve_param``)."""
        if not vcpu_has(vcpu, uapi.KVM_ARM_VCPU_SVE):
            return 0
        if not vcpu.arch.get("sve_finalized"):
            raise ModelErrno(errno.EINVAL, f"vCPU {vcpu.vcpu_id}: SVE not finalized")
        return self.register(vcpu, formats.SVE_VLS_ID).bit_length()

    def rme_init_ripas_realm(self, vm: VmState, realm: RealmVm, pointer: int) -> str:
        base, size, _ = UserMemory.unpack(formats.INIT_RIPAS_ARGS_V7, pointer)
        end = base + size
        if end > _U64_MAX:
            raise ModelErrno(errno.EINVAL, "range wraps around")
        _require_new(realm)
        rtt = rmi.rtt_of(realm)
        address = base
        while address < end:
            result = rtt.init_ripas_range(address, end)
            if result.status is RmiStatus.ERROR_RTT:
                level = _find_map_level(rtt, address, end)
                if result.level >= level or not _create_levels(rtt, address, result.level, level):
                    raise ModelErrno(errno.ENXIO, f"RTT_INIT_RIPAS at {address:#x} (kernel WARN)")
                continue  # retry with the tables in place
            if not result.ok:
                raise ModelErrno(errno.ENXIO, f"RMM refused RTT_INIT_RIPAS {address:#x}..{end:#x} "
                                              "(kernel WARN)")
            level = result.entries[0].level
            rmm_call(rmi.ripas_range, realm, address, result.out_top, level)
            realm.rmi_log.append(f"RTT_INIT_RIPAS(base={address:#x} top={end:#x}) -> "
                                 f"{len(result.entries)} level-{level} entries to {result.out_top:#x}")
            address = result.out_top
        return f"(base={base:#x} size={size:#x})"

    def rme_populate_realm(self, vm: VmState, realm: RealmVm, pointer: int) -> str:
        base, size, flags, _ = UserMemory.unpack(formats.POPULATE_ARGS_V7, pointer)
        _require_new(realm)
        if base % uapi.REALM_PAGE_SIZE or size % uapi.REALM_PAGE_SIZE:
            raise ModelErrno(errno.EINVAL, "populate range not 4 KiB aligned")
        if flags & ~v7.POPULATE_FLAGS_MEASURE:
            raise ModelErrno(errno.EINVAL, f"unknown populate flags {flags:#x}")
        if base + size > _U64_MAX:
            raise ModelErrno(errno.EINVAL, "range wraps around")
        measure = bool(flags & v7.POPULATE_FLAGS_MEASURE)
        populated: list[int] = []
        try:
            for chunk in range(base, base + size, POPULATE_CHUNK):
                self._populate_chunk(vm, realm, chunk, min(base + size, chunk + POPULATE_CHUNK),
                                     measure, populated)
        finally:
            if populated:
                realm.rmi_log.append(
                    f"{len(populated)} x DATA_CREATE({'measured' if measure else 'unmeasured'}) "
                    f"{populated[0]:#x}..{populated[-1] + uapi.REALM_PAGE_SIZE:#x}")
        return f"(base={base:#x} size={size:#x} flags={flags:#x})"

    def _populate_chunk(self, vm: VmState, realm: RealmVm, start: int, end: int, measure: bool,
                        populated: list[int]) -> None:
        """``populate_region`` over one part; each page populated goes to ``populated``."""
        slot = vm.memslot_for(start)
        if slot is None:
            raise ModelErrno(errno.EFAULT, f"no memslot at {start:#x}")
        if not slot.contains(start, end - start):
            raise ModelErrno(errno.EINVAL, "populate range crosses a memslot's end")
        if not slot.can_be_private:
            raise ModelErrno(errno.EINVAL, "only a guest_memfd memslot can be populated")
        rtt = rmi.rtt_of(realm)
        host = slot.userspace_addr - slot.guest_phys_addr
        for ipa in range(start, end, uapi.REALM_PAGE_SIZE):
            page = UserMemory.read(host + ipa, uapi.REALM_PAGE_SIZE)
            rmm_call(_data_create, rtt, ipa)
            rmm_call(rmi.data_create, realm, ipa, page, measure)
            populated.append(ipa)

    def rme_activate_realm(self, vm: VmState, realm: RealmVm, pointer: int) -> str:
        _require_new(realm)
        realm.state = RmeState.ACTIVE
        realm.rmi_log.append("REALM_ACTIVATE")
        return ""


def _checked_create(realm: RealmVm, params: RealmParams, kernel: V7Kernel) -> None:
    """RMI_REALM_CREATE with RMM 1.0's checks of the parameters."""
    rmi.check_rel0_params(params, kernel.features)
    rmi.realm_create(realm, params, kernel.rmm)


def _require_new(realm: RealmVm) -> None:
    if realm.state is not RmeState.NEW:
        raise ModelErrno(errno.EINVAL, f"realm state is {realm.state.value}, not new")


def _find_map_level(rtt: RttState, start: int, end: int) -> int:
    """v7's ``find_map_level``: the coarsest level down to the starting level whose
    block is aligned at ``start`` and ends by ``end``."""
    level = LAST_LEVEL
    while level > rtt.start_level:
        size = entry_size(level - 1)
        if start % size or start + size > end:
            break
        level -= 1
    return level


def _create_levels(rtt: RttState, ipa: int, level: int, max_level: int) -> bool:
    """v7 ``realm_create_rtt_levels``: RTT_CREATE below ``level``; a table that exists
    already is fine, any other error fails."""
    while level < max_level:
        level += 1
        result = rtt.rtt_create(ipa, level)
        if not result.ok and not (result.status is RmiStatus.ERROR_RTT and result.level == level):
            return False
    return True


def _data_create(rtt: RttState, ipa: int) -> None:
    """``realm_create_protected_data_granule``: DATA_CREATE, creating the missing
    tables and retrying once."""
    result = rtt.data_create(ipa)
    if result.status is RmiStatus.ERROR_RTT and result.level < LAST_LEVEL:
        if not _create_levels(rtt, ipa, result.level, LAST_LEVEL):
            raise RmmRefused(f"RTT_CREATE for {ipa:#x}")
        result = rtt.data_create(ipa)
    if not result.ok:
        raise RmmRefused(f"DATA_CREATE at {ipa:#x}: {result.status.value}")
