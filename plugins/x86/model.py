"""The x86 part of the model of KVM: decodes x86 ioctls with its own ``struct``
formats (never the cffi tables) and answers like arch/x86/kvm/x86.c, errnos included.

What it enforces: KVM_CREATE_PIT2 needs the in-kernel irqchip (ENOENT) and exists
once (EEXIST); KVM_SET_IDENTITY_MAP_ADDR comes before any vCPU (EINVAL); the TSS
must fit below 4 GiB (EINVAL); KVM_GET_SUPPORTED_CPUID wants room for every entry
(E2BIG); KVM_SET_CPUID2 takes at most 256 entries (E2BIG) and, once the vCPU has
run, only the CPUID it already has (EINVAL); KVM_SET_SREGS checks the CR0/CR4/EFER
combinations the kernel checks (EINVAL); KVM_SET_MSRS stops at the first MSR it
does not know and returns how many it set.
"""

from __future__ import annotations

import errno
import struct
from typing import Any

from vmm.core.model.base import ArchModel, ModelErrno
from vmm.core.model.decode import UserMemory, io, ior, iow, iowr
from vmm.core.model.state import SystemState, VcpuState, VmState

PAGE = 4096
KVM_MAX_CPUID_ENTRIES = 256
KVM_PIT_SPEAKER_DUMMY = 1
KVM_MP_STATE_RUNNABLE, KVM_MP_STATE_UNINITIALIZED = 0, 1

# Formats of the x86 UAPI structures (arch/x86/include/uapi/asm/kvm.h).
SEGMENT = "QIHBBBBBBBBBB"
DTABLE = "QH3H"
REGS_FMT = "<18Q"
SREGS_FMT = "<" + SEGMENT * 8 + DTABLE * 2 + "7Q" + "4Q"
FPU_FMT = "<128sHHBBHQQ256sII"
CPUID2_HEADER = "<II"
CPUID_ENTRY = "<7I3I"
MSRS_HEADER = "<II"
MSR_ENTRY = "<IIQ"
PIT_CONFIG_FMT = "<I15I"
MP_STATE_FMT = "<I"
VCPU_EVENTS_FMT = "<4BI4B4BII4BB26sBQ"

REGS_NAMES = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8", "r9", "r10",
              "r11", "r12", "r13", "r14", "r15", "rip", "rflags")
SEGMENT_NAMES = ("cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt")

KVM_CAP_IRQCHIP = 0
KVM_CAP_SET_TSS_ADDR = 4
KVM_CAP_EXT_CPUID = 7
KVM_CAP_PIT2 = 33
KVM_CAP_SET_IDENTITY_MAP_ADDR = 37
KVM_CAP_IOEVENTFD = 36
KVM_CAP_IRQFD = 32

CR0_PE, CR0_NW, CR0_CD, CR0_PG = 1 << 0, 1 << 29, 1 << 30, 1 << 31
CR4_PAE = 1 << 5
EFER_LME, EFER_LMA = 1 << 8, 1 << 10

#: MSRs the model accepts (what vmm sets at boot, and a few more Linux touches).
KNOWN_MSRS = frozenset({0x10, 0x1B, 0x174, 0x175, 0x176, 0x1A0, 0x2FF, 0x277,
                        0xC0000080, 0xC0000081, 0xC0000082, 0xC0000083, 0xC0000084,
                        0xC0000100, 0xC0000101, 0xC0000102})


def _vendor_words(vendor: bytes) -> tuple[int, int, int]:
    ebx, edx, ecx = struct.unpack("<3I", vendor)
    return ebx, ecx, edx


#: A small, plausible CPUID the model "supports": (function, index, flags, a, b, c, d).
MODEL_CPUID = (
    (0x0, 0, 0, 0xD, *_vendor_words(b"VmmModelX86!")),
    (0x1, 0, 0, 0x000606A6, 0x00000800, 0x80202001, 0x078BFBFF),
    (0x7, 0, 1, 0, 0, 0, 0),
    (0xB, 0, 1, 1, 1, 0x100, 0),
    (0xB, 1, 1, 0, 0, 0x201, 0),
    (0x80000000, 0, 0, 0x80000008, 0, 0, 0),
    (0x80000001, 0, 0, 0, 0, 0x1, 0x20100800),
    (0x80000008, 0, 0, 0x3028, 0, 0, 0),
)


def reset_sregs() -> bytearray:
    """The kernel's reset state: real mode at f000:fff0 (cs base 0xffff0000)."""
    segments = []
    for name in SEGMENT_NAMES:
        base, selector, seg_type, s = 0, 0, 3, 1
        if name == "cs":
            base, selector, seg_type = 0xFFFF0000, 0xF000, 0xB
        elif name == "tr":
            seg_type, s = 0xB, 0
        elif name == "ldt":
            seg_type, s = 2, 0
        segments.append((base, 0xFFFF, selector, seg_type, 1, 0, 0, s, 0, 0, 0, 0, 0))
    values: list[int] = [value for segment in segments for value in segment]
    values += [0, 0xFFFF, 0, 0, 0] * 2  # gdt, idt
    values += [0x60000010, 0, 0, 0, 0, 0, 0xFEE00900]  # cr0 cr2 cr3 cr4 cr8 efer apic_base
    values += [0, 0, 0, 0]
    return bytearray(struct.pack(SREGS_FMT, *values))


def _field_count(fmt: str) -> int:
    return len(struct.unpack("<" + fmt, bytes(struct.calcsize("<" + fmt))))


def decode_sregs(data: bytes) -> dict[str, Any]:
    """The fields the model checks, by name."""
    values = struct.unpack(SREGS_FMT, data)
    seg_len = _field_count(SEGMENT)
    segments = {name: values[i * seg_len : (i + 1) * seg_len] for i, name in enumerate(SEGMENT_NAMES)}
    tail = values[len(SEGMENT_NAMES) * seg_len + 2 * _field_count(DTABLE) :]
    cr0, cr2, cr3, cr4, cr8, efer, apic_base = tail[:7]
    return {"segments": segments, "cr0": cr0, "cr3": cr3, "cr4": cr4, "efer": efer,
            "cs_l": segments["cs"][8]}


class X86Model(ArchModel):
    """x86 KVM: in-kernel irqchip and PIT, CPUID, registers, MSRs, MP state."""

    arch = "x86"
    vcpu_mmap_size = 3 * PAGE
    capabilities = {KVM_CAP_IRQCHIP: 1, KVM_CAP_SET_TSS_ADDR: 1, KVM_CAP_EXT_CPUID: 1,
                    KVM_CAP_PIT2: 1, KVM_CAP_SET_IDENTITY_MAP_ADDR: 1,
                    KVM_CAP_IOEVENTFD: 1, KVM_CAP_IRQFD: 1}
    system_ioctls = {0x05: iowr("KVM_GET_SUPPORTED_CPUID", CPUID2_HEADER)}
    vm_ioctls = {
        0x47: io("KVM_SET_TSS_ADDR"),
        0x48: iow("KVM_SET_IDENTITY_MAP_ADDR", "<Q"),
        0x77: iow("KVM_CREATE_PIT2", PIT_CONFIG_FMT),
    }
    vcpu_ioctls = {
        0x81: ior("KVM_GET_REGS", REGS_FMT),
        0x82: iow("KVM_SET_REGS", REGS_FMT),
        0x83: ior("KVM_GET_SREGS", SREGS_FMT),
        0x84: iow("KVM_SET_SREGS", SREGS_FMT),
        0x88: iowr("KVM_GET_MSRS", MSRS_HEADER),
        0x89: iow("KVM_SET_MSRS", MSRS_HEADER),
        0x8C: ior("KVM_GET_FPU", FPU_FMT),
        0x8D: iow("KVM_SET_FPU", FPU_FMT),
        0x90: iow("KVM_SET_CPUID2", CPUID2_HEADER),
        0x98: ior("KVM_GET_MP_STATE", MP_STATE_FMT),
        0x99: iow("KVM_SET_MP_STATE", MP_STATE_FMT),
        0x9F: ior("KVM_GET_VCPU_EVENTS", VCPU_EVENTS_FMT),
        0xA0: iow("KVM_SET_VCPU_EVENTS", VCPU_EVENTS_FMT),
    }

    # ------------------------------------------------------------ VM

    def new_vm(self, vm: VmState) -> None:
        vm.arch.update(pit=None, tss_addr=None, identity_map_addr=None)

    def new_vcpu(self, vcpu: VcpuState) -> None:
        regs = [0] * len(REGS_NAMES)
        regs[REGS_NAMES.index("rip")] = 0xFFF0
        regs[REGS_NAMES.index("rflags")] = 0x2
        vcpu.arch.update(
            regs=bytearray(struct.pack(REGS_FMT, *regs)), sregs=reset_sregs(),
            fpu=bytearray(struct.calcsize(FPU_FMT)), cpuid=None, msrs={}, has_run=False,
            events=bytearray(struct.calcsize(VCPU_EVENTS_FMT)),
            mp_state=KVM_MP_STATE_RUNNABLE if vcpu.vcpu_id == 0 or not vcpu.vm.irqchip
            else KVM_MP_STATE_UNINITIALIZED,
        )

    def on_kvm_get_supported_cpuid(self, system: SystemState, arg: int) -> tuple[int, str]:
        nent, _ = UserMemory.unpack(CPUID2_HEADER, arg)
        if nent < len(MODEL_CPUID):
            raise ModelErrno(errno.E2BIG, f"{nent} entries is too few")
        header = struct.calcsize(CPUID2_HEADER)
        entries = b"".join(struct.pack(CPUID_ENTRY, *entry, 0, 0, 0) for entry in MODEL_CPUID)
        UserMemory.write(arg, struct.pack(CPUID2_HEADER, len(MODEL_CPUID), 0))
        UserMemory.write(arg + header, entries)
        return 0, f"nent={len(MODEL_CPUID)}"

    def on_kvm_set_tss_addr(self, vm: VmState, arg: int) -> tuple[int, str]:
        if arg > 0xFFFFFFFF - 3 * PAGE:
            raise ModelErrno(errno.EINVAL, "the TSS must be below 4 GiB")
        vm.arch["tss_addr"] = arg
        return 0, f"addr={arg:#x}"

    def on_kvm_set_identity_map_addr(self, vm: VmState, arg: int) -> tuple[int, str]:
        (address,) = UserMemory.unpack("<Q", arg)
        if vm.vcpus:
            raise ModelErrno(errno.EINVAL, "identity map address after vCPUs")
        vm.arch["identity_map_addr"] = address
        return 0, f"addr={address:#x}"

    def on_kvm_create_pit2(self, vm: VmState, arg: int) -> tuple[int, str]:
        flags, *_ = UserMemory.unpack(PIT_CONFIG_FMT, arg)
        if vm.arch.get("pit") is not None:
            raise ModelErrno(errno.EEXIST, "PIT exists")
        if not vm.irqchip:
            raise ModelErrno(errno.ENOENT, "KVM_CREATE_PIT2 needs the in-kernel irqchip first")
        vm.arch["pit"] = flags
        return 0, f"flags={flags:#x}"

    # ------------------------------------------------------------ vCPU

    def before_run(self, vcpu: VcpuState) -> None:
        vcpu.arch["has_run"] = True

    def idle_exit(self, vcpu: VcpuState) -> tuple[str, dict[str, Any]]:
        """With nothing scripted, the guest resets (a triple fault: KVM_EXIT_SHUTDOWN)."""
        return ("shutdown", {})

    def _copy_out(self, vcpu: VcpuState, key: str, arg: int) -> int:
        UserMemory.write(arg, bytes(vcpu.arch[key]))
        return 0

    def _copy_in(self, vcpu: VcpuState, key: str, fmt: str, arg: int) -> bytes:
        data = UserMemory.read(arg, struct.calcsize(fmt))
        vcpu.arch[key][:] = data
        return data

    def on_kvm_get_regs(self, vcpu: VcpuState, arg: int) -> int:
        return self._copy_out(vcpu, "regs", arg)

    def on_kvm_set_regs(self, vcpu: VcpuState, arg: int) -> tuple[int, str]:
        data = self._copy_in(vcpu, "regs", REGS_FMT, arg)
        regs = dict(zip(REGS_NAMES, struct.unpack(REGS_FMT, data), strict=True))
        return 0, f"rip={regs['rip']:#x} rsp={regs['rsp']:#x} rsi={regs['rsi']:#x}"

    def on_kvm_get_sregs(self, vcpu: VcpuState, arg: int) -> int:
        return self._copy_out(vcpu, "sregs", arg)

    def on_kvm_set_sregs(self, vcpu: VcpuState, arg: int) -> tuple[int, str]:
        data = UserMemory.read(arg, struct.calcsize(SREGS_FMT))
        sregs = decode_sregs(data)
        cr0, cr4, efer = sregs["cr0"], sregs["cr4"], sregs["efer"]
        if cr0 & CR0_PG and not cr0 & CR0_PE:
            raise ModelErrno(errno.EINVAL, "CR0.PG without CR0.PE")
        if cr0 & CR0_NW and not cr0 & CR0_CD:
            raise ModelErrno(errno.EINVAL, "CR0.NW without CR0.CD")
        if efer & EFER_LME and cr0 & CR0_PG:
            if not cr4 & CR4_PAE or not efer & EFER_LMA:
                raise ModelErrno(errno.EINVAL, "long mode needs CR4.PAE and EFER.LMA")
        elif efer & EFER_LMA or sregs["cs_l"]:
            raise ModelErrno(errno.EINVAL, "EFER.LMA or CS.L outside long mode")
        vcpu.arch["sregs"][:] = data
        cs = sregs["segments"]["cs"]
        return 0, f"cr0={cr0:#x} cr4={cr4:#x} efer={efer:#x} cs={cs[2]:#x}"

    def on_kvm_get_fpu(self, vcpu: VcpuState, arg: int) -> int:
        return self._copy_out(vcpu, "fpu", arg)

    def on_kvm_set_fpu(self, vcpu: VcpuState, arg: int) -> int:
        self._copy_in(vcpu, "fpu", FPU_FMT, arg)
        return 0

    def on_kvm_set_cpuid2(self, vcpu: VcpuState, arg: int) -> tuple[int, str]:
        nent, _ = UserMemory.unpack(CPUID2_HEADER, arg)
        if nent > KVM_MAX_CPUID_ENTRIES:
            raise ModelErrno(errno.E2BIG, f"{nent} CPUID entries")
        size = struct.calcsize(CPUID_ENTRY)
        raw = UserMemory.read(arg + struct.calcsize(CPUID2_HEADER), nent * size) if nent else b""
        entries = [struct.unpack_from(CPUID_ENTRY, raw, i * size)[:7] for i in range(nent)]
        if vcpu.arch["has_run"] and entries != vcpu.arch["cpuid"]:
            raise ModelErrno(errno.EINVAL, "CPUID changed after KVM_RUN")
        vcpu.arch["cpuid"] = entries
        apic_ids = {entry[4] >> 24 for entry in entries if entry[0] == 1}
        return 0, f"nent={nent} apic_id={','.join(map(str, sorted(apic_ids)))}"

    def _msr_entries(self, arg: int) -> list[tuple[int, int]]:
        count, _ = UserMemory.unpack(MSRS_HEADER, arg)
        size = struct.calcsize(MSR_ENTRY)
        raw = UserMemory.read(arg + struct.calcsize(MSRS_HEADER), count * size) if count else b""
        return [(index, data) for index, _, data in
                (struct.unpack_from(MSR_ENTRY, raw, i * size) for i in range(count))]

    def on_kvm_set_msrs(self, vcpu: VcpuState, arg: int) -> tuple[int, str]:
        done = 0
        for index, data in self._msr_entries(arg):
            if index not in KNOWN_MSRS:
                break
            vcpu.arch["msrs"][index] = data
            done += 1
        return done, f"nmsrs={done}"

    def on_kvm_get_msrs(self, vcpu: VcpuState, arg: int) -> int:
        entries = self._msr_entries(arg)
        header = struct.calcsize(MSRS_HEADER)
        size = struct.calcsize(MSR_ENTRY)
        done = 0
        for position, (index, _) in enumerate(entries):
            if index not in KNOWN_MSRS:
                break
            UserMemory.write(arg + header + position * size,
                             struct.pack(MSR_ENTRY, index, 0, vcpu.arch["msrs"].get(index, 0)))
            done += 1
        return done

    def on_kvm_get_mp_state(self, vcpu: VcpuState, arg: int) -> int:
        UserMemory.write(arg, struct.pack(MP_STATE_FMT, vcpu.arch["mp_state"]))
        return 0

    def on_kvm_set_mp_state(self, vcpu: VcpuState, arg: int) -> int:
        (vcpu.arch["mp_state"],) = UserMemory.unpack(MP_STATE_FMT, arg)
        return 0

    def on_kvm_get_vcpu_events(self, vcpu: VcpuState, arg: int) -> int:
        return self._copy_out(vcpu, "events", arg)

    def on_kvm_set_vcpu_events(self, vcpu: VcpuState, arg: int) -> int:
        self._copy_in(vcpu, "events", VCPU_EVENTS_FMT, arg)
        return 0
