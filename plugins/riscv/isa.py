"""riscv ISA extensions: KVM's ISA_EXT ids, the ``--disable-<ext>`` table, ISA strings.

:data:`ISA_EXTENSIONS` lists the extensions in the order of the kernel's
``enum KVM_RISCV_ISA_EXT_ID``: an extension's ISA_EXT register index is its position.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: enum KVM_RISCV_ISA_EXT_ID, in order (Linux 6.17).
ISA_EXTENSIONS: tuple[str, ...] = (
    "a", "c", "d", "f", "h", "i", "m",
    "svpbmt", "sstc", "svinval", "zihintpause", "zicbom", "zicboz", "zbb", "ssaia",
    "v", "svnapot", "zba", "zbs", "zicntr", "zicsr", "zifencei", "zihpm", "smstateen",
    "zicond", "zbc", "zbkb", "zbkc", "zbkx", "zknd", "zkne", "zknh", "zkr", "zksed",
    "zksh", "zkt", "zvbb", "zvbc", "zvkb", "zvkg", "zvkned", "zvknha", "zvknhb",
    "zvksed", "zvksh", "zvkt", "zfh", "zfhmin", "zihintntl", "zvfh", "zvfhmin", "zfa",
    "ztso", "zacas", "sscofpmf", "zimop", "zca", "zcb", "zcd", "zcf", "zcmop", "zawrs",
    "smnpm", "ssnpm", "svade", "svadu", "svvptc", "zabha", "ziccrse", "zaamo", "zalrsc",
    "zicbop", "zfbfmin", "zvfbfmin", "zvfbfwma", "zclsd", "zilsd", "zalasr",
)

#: ISA_EXT id by extension name.
ISA_EXT_ID: dict[str, int] = {name: index for index, name in enumerate(ISA_EXTENSIONS)}

#: Multi-letter extensions: each gets a ``--disable-<ext>`` option, as in kvmtool.
MULTI_LETTER: tuple[str, ...] = tuple(name for name in ISA_EXTENSIONS if len(name) > 1)

#: Single-letter extensions KVM lets user space hide (F, D, V, H); also ``--disable-<x>``.
HIDEABLE_LETTERS: tuple[str, ...] = ("f", "d", "v", "h")

#: Every extension with a ``--disable-<ext>`` option, in ISA_EXT id order.
DISABLE_OPTIONS: tuple[str, ...] = tuple(
    name for name in ISA_EXTENSIONS if len(name) > 1 or name in HIDEABLE_LETTERS
)

#: Single-letter extensions in the canonical order of an ISA string.
BASE_LETTER_ORDER = "imafdqcbkjpvh"


def disable_dest(name: str) -> str:
    """The destination of ``--disable-<name>`` (an attribute of the riscv options)."""
    return f"disable_{name}"


def isa_bitmap_letters(isa: int) -> list[str]:
    """The single letters set in KVM's CONFIG ``isa`` bitmap (bit n = letter 'a' + n)."""
    return [letter for letter in BASE_LETTER_ORDER if isa >> (ord(letter) - ord("a")) & 1]


@dataclass
class CpuFeatures:
    """What KVM reports about the harts it gives this VM (read from vCPU 0)."""

    xlen: int
    letters: list[str]
    extensions: list[str] = field(default_factory=list)
    satp_mode: int | None = None
    timebase_frequency: int = 0
    zicbom_block_size: int | None = None
    zicboz_block_size: int | None = None

    @property
    def isa_string(self) -> str:
        """The ``riscv,isa`` string: ``rv64imafdc_zicsr_...``."""
        base = f"rv{self.xlen}" + "".join(self.letters)
        return "_".join([base, *self.extensions])

    @property
    def isa_base(self) -> str:
        """The ``riscv,isa-base`` string (``rv64i``)."""
        return f"rv{self.xlen}i"

    @property
    def isa_extension_list(self) -> list[str]:
        """The ``riscv,isa-extensions`` list: the letters, then the others."""
        return [*self.letters, *self.extensions]

    @property
    def mmu_type(self) -> str:
        """The cpu node's ``mmu-type`` from KVM's ``satp_mode`` (Sv39 when unknown)."""
        return SATP_MODE_MMU_TYPE.get(self.satp_mode or 0, "riscv,sv39")


#: satp.MODE values (privileged spec) and the device tree's names for them.
SATP_MODE_MMU_TYPE = {8: "riscv,sv39", 9: "riscv,sv48", 10: "riscv,sv57"}
