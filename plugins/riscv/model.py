"""The riscv part of the model of KVM (arch/riscv/kvm/vcpu_onereg.c, aia_device.c...).

It decodes ONE_REG ids with its own knowledge of the register layout (the names
below, restated on purpose instead of taken from the cffi declarations), answers with
the kernel's errnos, and keeps the host's offer configurable through a
:class:`RiscvProfile`: which ISA extensions, whether the AIA exists. KVM_RUN with no
scripted exit gives an SBI SRST shutdown, as a guest that powers off.
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass
from typing import Any

from vmm.core.model.base import ArchModel, ModelErrno
from vmm.core.model.decode import UserMemory, iow
from vmm.core.model.runarea import EXIT_REASON, EXIT_UNION
from vmm.core.model.state import VcpuState, VmState

from .model_aia import AiaDeviceModel

REG_ARCH_RISCV = 0x8000_0000_0000_0000
REG_ARCH_MASK = 0xFF00_0000_0000_0000
SIZE_U64 = 3  # log2 of the size in the id's size field (bits 52..55)

TYPE_CONFIG, TYPE_CORE, TYPE_CSR, TYPE_TIMER = 1, 2, 3, 4
TYPE_ISA_EXT, TYPE_SBI_EXT = 7, 8

CONFIG_REGS = ("isa", "zicbom_block_size", "mvendorid", "marchid", "mimpid",
               "zicboz_block_size", "satp_mode", "zicbop_block_size")
CORE_REGS = 33  # pc, 31 GPRs, mode
CSR_REGS = 11
TIMER_REGS = ("frequency", "time", "compare", "state")
SBI_EXTS = 14  # enum KVM_RISCV_SBI_EXT_ID
SBI_EXT_DBCN = 9
SBI_EXT_EXPERIMENTAL, SBI_EXT_VENDOR = 7, 8
KVM_INTERRUPT_SET = 0xFFFF_FFFF
#: Exit reasons riscv KVM forwards (include/uapi/linux/kvm.h), restated for the model.
EXIT_RISCV_SBI = 35
EXIT_RISCV_CSR = 36
KVM_INTERRUPT_UNSET = 0xFFFF_FFFE

#: enum KVM_RISCV_ISA_EXT_ID, restated for the model.
ISA_EXT_NAMES = (
    "a c d f h i m svpbmt sstc svinval zihintpause zicbom zicboz zbb ssaia v svnapot "
    "zba zbs zicntr zicsr zifencei zihpm smstateen zicond zbc zbkb zbkc zbkx zknd zkne "
    "zknh zkr zksed zksh zkt zvbb zvbc zvkb zvkg zvkned zvknha zvknhb zvksed zvksh zvkt "
    "zfh zfhmin zihintntl zvfh zvfhmin zfa ztso zacas sscofpmf zimop zca zcb zcd zcf "
    "zcmop zawrs smnpm ssnpm svade svadu svvptc zabha ziccrse zaamo zalrsc zicbop "
    "zfbfmin zvfbfmin zvfbfwma zclsd zilsd zalasr"
).split()

#: Extensions KVM has no way to hide from a guest (kvm_riscv_vcpu_isa_disable_allowed).
NOT_DISABLABLE = frozenset(
    "a c i m svinval svnapot zacas zba zbb zbc zbkb zbkc zbkx zbs zca zcb zcd zcf zcmop "
    "zfa zfh zfhmin zicntr zicond zicsr zifencei zihintntl zihintpause zihpm zimop zknd "
    "zkne zknh zkr zksed zksh zkt ztso zvbb zvbc zvfh zvfhmin zvkb zvkg zvkned zvknha "
    "zvknhb zvksed zvksh zvkt".split()
)

#: What QEMU's ``-cpu max`` host offers a KVM guest, roughly.
DEFAULT_EXTENSIONS = frozenset(
    "a c d f i m v svpbmt sstc svinval zihintpause zicbom zicboz zbb ssaia svnapot zba "
    "zbs zicntr zicsr zifencei zihpm smstateen zicond zbc zfh zfhmin zihintntl zfa zacas "
    "zca zcb zcd zawrs".split()
)


@dataclass
class RiscvProfile:
    """The host KVM the model stands for (tests choose)."""

    extensions: frozenset[str] = DEFAULT_EXTENSIONS
    aia: bool = True
    #: satp.MODE of the widest paging mode (9: Sv48); None for a KVM without the register.
    satp_mode: int | None = 9
    timebase_frequency: int = 10_000_000
    cbom_block_size: int = 64
    cboz_block_size: int = 64
    #: MSI ids per IMSIC file KVM reports (CONFIG_IDS).
    aia_nr_ids: int = 255
    #: AIA mode KVM starts with (2: auto).
    aia_mode: int = 2
    mvendorid: int = 0
    marchid: int = 0
    mimpid: int = 0


class RiscvModel(AiaDeviceModel, ArchModel):
    """The model of riscv KVM."""

    arch = "riscv"
    vcpu_ioctls = {0x86: iow("KVM_INTERRUPT", "<I")}

    def __init__(self, profile: RiscvProfile | None = None) -> None:
        self.profile = profile or RiscvProfile()
        self.capabilities = {
            0: int(self.profile.aia),  # KVM_CAP_IRQCHIP: the AIA is available
            32: int(self.profile.aia),  # KVM_CAP_IRQFD
            36: 1,  # KVM_CAP_IOEVENTFD
            70: 1,  # KVM_CAP_ONE_REG
            89: 1,  # KVM_CAP_DEVICE_CTRL
        }

    # ------------------------------------------------------------ vCPUs

    def new_vcpu(self, vcpu: VcpuState) -> None:
        """A fresh vCPU sees every host extension and the default SBI extensions."""
        vcpu.arch["isa_ext"] = set(self.profile.extensions) & set(ISA_EXT_NAMES)
        vcpu.arch["sbi_ext"] = {i for i in range(SBI_EXTS)
                                if i not in (SBI_EXT_DBCN, SBI_EXT_EXPERIMENTAL, SBI_EXT_VENDOR)}
        vcpu.arch["core"] = [0] * CORE_REGS
        vcpu.arch["core"][CORE_REGS - 1] = 1  # mode: S
        vcpu.arch["csr"] = [0] * CSR_REGS
        vcpu.arch["timer"] = {"time": 0, "compare": 0, "state": 0}
        vcpu.arch["ids"] = {"mvendorid": self.profile.mvendorid,
                            "marchid": self.profile.marchid, "mimpid": self.profile.mimpid}
        vcpu.arch["external_irq"] = False

    @staticmethod
    def _decode(reg_id: int) -> tuple[int, int, int]:
        if reg_id & REG_ARCH_MASK != REG_ARCH_RISCV:
            raise ModelErrno(errno.EINVAL, f"register {reg_id:#x} is not a riscv register")
        if (reg_id >> 52) & 0xF != SIZE_U64:
            raise ModelErrno(errno.EINVAL, f"register {reg_id:#x}: size is not 64 bits")
        return (reg_id >> 24) & 0xFF, (reg_id >> 16) & 0xFF, reg_id & 0xFFFF

    @staticmethod
    def _ran(vcpu: VcpuState) -> bool:
        return vcpu.runs > 0

    def _letters_bitmap(self, vcpu: VcpuState) -> int:
        return sum(1 << (ord(name) - ord("a")) for name in vcpu.arch["isa_ext"] if len(name) == 1)

    def get_one_reg(self, vcpu: VcpuState, reg_id: int, size: int) -> bytes:
        """KVM_GET_ONE_REG for CONFIG, CORE, CSR, TIMER, ISA_EXT and SBI_EXT."""
        reg_type, subtype, index = self._decode(reg_id)
        return self._get(vcpu, reg_type, subtype, index).to_bytes(size, "little")

    def _get(self, vcpu: VcpuState, reg_type: int, subtype: int, index: int) -> int:
        if reg_type == TYPE_CONFIG:
            return self._get_config(vcpu, index)
        if reg_type == TYPE_CORE and index < CORE_REGS:
            return vcpu.arch["core"][index]
        if reg_type == TYPE_CSR and subtype == 0 and index < CSR_REGS:
            return vcpu.arch["csr"][index]
        if reg_type == TYPE_TIMER and index < len(TIMER_REGS):
            name = TIMER_REGS[index]
            if name == "frequency":
                return self.profile.timebase_frequency
            return vcpu.arch["timer"][name]
        if reg_type == TYPE_ISA_EXT and subtype == 0:
            return int(self._isa_ext_name(index) in vcpu.arch["isa_ext"])
        if reg_type == TYPE_SBI_EXT and subtype == 0:
            self._check_sbi_ext(index)
            return int(index in vcpu.arch["sbi_ext"])
        raise ModelErrno(errno.ENOENT, f"riscv register type {reg_type} index {index}")

    def _get_config(self, vcpu: VcpuState, index: int) -> int:
        name = CONFIG_REGS[index] if index < len(CONFIG_REGS) else None
        profile = self.profile
        if name == "isa":
            return self._letters_bitmap(vcpu)
        if name in ("zicbom_block_size", "zicboz_block_size", "zicbop_block_size"):
            extension = name.split("_")[0]
            if extension not in profile.extensions or extension == "zicbop":
                raise ModelErrno(errno.ENOENT, f"the host has no {extension}")
            return profile.cbom_block_size if extension == "zicbom" else profile.cboz_block_size
        if name in ("mvendorid", "marchid", "mimpid"):
            return vcpu.arch["ids"][name]
        if name == "satp_mode" and profile.satp_mode is not None:
            return profile.satp_mode
        raise ModelErrno(errno.ENOENT, f"config register {index}")

    def _isa_ext_name(self, index: int) -> str:
        if index >= len(ISA_EXT_NAMES) or ISA_EXT_NAMES[index] not in self.profile.extensions:
            raise ModelErrno(errno.ENOENT, f"ISA extension {index} not on this host")
        return ISA_EXT_NAMES[index]

    @staticmethod
    def _check_sbi_ext(index: int) -> None:
        if index >= SBI_EXTS:
            raise ModelErrno(errno.ENOENT, f"SBI extension {index}")

    def set_one_reg(self, vcpu: VcpuState, reg_id: int, value: bytes) -> None:
        """KVM_SET_ONE_REG with the kernel's rules (EBUSY once the vCPU ran...)."""
        reg_type, subtype, index = self._decode(reg_id)
        number = int.from_bytes(value, "little")
        if reg_type == TYPE_CONFIG:
            self._set_config(vcpu, index, number)
        elif reg_type == TYPE_CORE and index < CORE_REGS:
            if index == CORE_REGS - 1 and number not in (0, 1):
                raise ModelErrno(errno.EINVAL, f"mode {number}")
            vcpu.arch["core"][index] = number
        elif reg_type == TYPE_CSR and subtype == 0 and index < CSR_REGS:
            vcpu.arch["csr"][index] = number
        elif reg_type == TYPE_TIMER and index < len(TIMER_REGS):
            name = TIMER_REGS[index]
            if name == "frequency":
                if number != self.profile.timebase_frequency:
                    raise ModelErrno(errno.EINVAL, "the timer frequency is read-only")
            else:
                vcpu.arch["timer"][name] = number
        elif reg_type == TYPE_ISA_EXT and subtype == 0:
            self._set_isa_ext(vcpu, index, number)
        elif reg_type == TYPE_SBI_EXT and subtype == 0:
            self._check_sbi_ext(index)
            self._toggle(vcpu, vcpu.arch["sbi_ext"], index, number)
        else:
            raise ModelErrno(errno.ENOENT, f"riscv register type {reg_type} index {index}")

    def _toggle(self, vcpu: VcpuState, enabled: set, item: Any, number: int) -> None:
        if number not in (0, 1):
            raise ModelErrno(errno.EINVAL, f"{number} is neither 0 nor 1")
        if bool(number) == (item in enabled):
            return
        if self._ran(vcpu):
            raise ModelErrno(errno.EBUSY, "the vCPU already ran")
        (enabled.add if number else enabled.discard)(item)

    def _set_isa_ext(self, vcpu: VcpuState, index: int, number: int) -> None:
        name = self._isa_ext_name(index)
        if number == 0 and name in NOT_DISABLABLE and name in vcpu.arch["isa_ext"]:
            raise ModelErrno(errno.EINVAL, f"KVM can't disable {name}")
        self._toggle(vcpu, vcpu.arch["isa_ext"], name, number)

    def _set_config(self, vcpu: VcpuState, index: int, number: int) -> None:
        current = self._get_config(vcpu, index)
        if number == current:
            return
        name = CONFIG_REGS[index]
        if name == "isa":
            if self._ran(vcpu):
                raise ModelErrno(errno.EBUSY, "the ISA can't change once the vCPU ran")
            letters = {chr(ord("a") + bit) for bit in range(26) if number >> bit & 1}
            host = {name for name in self.profile.extensions if len(name) == 1}
            for letter in host - letters:
                self._set_isa_ext(vcpu, ISA_EXT_NAMES.index(letter), 0)
            return
        if name in ("mvendorid", "marchid", "mimpid"):
            if self._ran(vcpu):
                raise ModelErrno(errno.EBUSY, f"{name} can't change once the vCPU ran")
            vcpu.arch["ids"][name] = number
            return
        raise ModelErrno(errno.EINVAL, f"config register {name} is read-only")

    # ------------------------------------------------------------ KVM_INTERRUPT, KVM_RUN

    def on_kvm_interrupt(self, vcpu: VcpuState, arg: int) -> tuple[int, str]:
        """Raise or lower the vCPU's external interrupt."""
        (irq,) = UserMemory.unpack("<I", arg)
        if irq not in (KVM_INTERRUPT_SET, KVM_INTERRUPT_UNSET):
            raise ModelErrno(errno.EINVAL, f"KVM_INTERRUPT irq {irq:#x}")
        vcpu.arch["external_irq"] = irq == KVM_INTERRUPT_SET
        return 0, "set" if irq == KVM_INTERRUPT_SET else "unset"

    def idle_exit(self, vcpu: VcpuState) -> tuple[str, dict[str, Any]]:
        """The guest asks SBI SRST for a shutdown."""
        return ("riscv_sbi", {"extension_id": 0x5352_5354, "function_id": 0, "args": [0, 0]})

    def write_exit(self, area: bytearray, kind: str, fields: dict[str, Any]) -> None:
        """riscv's exits: ``riscv_sbi`` (``extension_id``, ``function_id``, ``args``)
        and ``riscv_csr`` (``csr_num``, ``new_value``, ``write_mask``)."""
        if kind == "riscv_sbi":
            args = list(fields.get("args", [])) + [0] * 6
            struct.pack_into("<I", area, EXIT_REASON, EXIT_RISCV_SBI)
            struct.pack_into("<QQ6Q", area, EXIT_UNION, fields["extension_id"],
                             fields["function_id"], *args[:6])
        elif kind == "riscv_csr":
            struct.pack_into("<I", area, EXIT_REASON, EXIT_RISCV_CSR)
            struct.pack_into("<QQQ", area, EXIT_UNION, fields["csr_num"],
                             fields.get("new_value", 0), fields.get("write_mask", 0))
        else:
            super().write_exit(area, kind, fields)

    def new_vm(self, vm: VmState) -> None:
        """No AIA device yet."""
        vm.arch["aia"] = None
