"""kvmtool's ``lkvm run`` command line, and what vmm does with each option.

One entry per option of kvmtool's run command (its common options, then those each
architecture's build adds), in kvmtool's --help order. An option is one of:

- ``SAME``: ``vmm run`` has the option under the same name; passed on unchanged
  (vmm's own parsing and checks then apply). An architecture option that the
  plugins of this machine's architecture don't declare is refused when used.
- a ``Rename``: ``vmm run`` has it under another spelling.
- a ``Missing``: vmm can't honour it; using it is an error naming the option.

docs/kvmtool.md shows this table as :func:`markdown_table` writes it (a test keeps
the page current).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rename:
    """The option's words in ``vmm run``: ``flag`` with the value, or ``words``
    (fixed) for a kvmtool flag."""

    flag: str = ""
    words: tuple[str, ...] = ()
    #: Convert kvmtool's value into vmm's (by name, see :mod:`.translate`).
    convert: str = ""


@dataclass(frozen=True)
class Missing:
    """vmm has no equivalent; ``why`` ends the error message."""

    why: str


SAME = Rename()

#: Kinds of option: a flag, one taking a value, one whose value may be left out
#: when it is the last word or the next word is an option (kvmtool's -n).
FLAG, VALUE, OPTIONAL_VALUE = "flag", "value", "optional"


@dataclass(frozen=True)
class KvmtoolOption:
    """One option of ``lkvm run``."""

    long: str
    short: str
    kind: str
    help: str
    vmm: Rename | Missing
    #: kvmtool builds that have it (``""``: every architecture).
    arch: str = ""
    #: What a value-less ``OPTIONAL_VALUE`` option means.
    default: str = ""
    metavar: str = ""
    #: How vmm's behaviour differs from kvmtool's (docs/kvmtool.md).
    note: str = ""


def _o(long: str, short: str, kind: str, help: str, vmm: Rename | Missing, *, arch: str = "",
       default: str = "", metavar: str = "", note: str = "") -> KvmtoolOption:
    return KvmtoolOption(long, short, kind, help, vmm, arch, default, metavar, note)


_NO_FRAMEBUFFER = Missing("vmm has no framebuffer")
_NO_DEBUG_AID = Missing("vmm has no such debugging aid; use vmm's --debug for tracebacks")

OPTIONS: tuple[KvmtoolOption, ...] = (
    # Basic options
    _o("name", "", VALUE, "A name for the guest", Missing(
        "vmm keeps no list of named guests (lkvm list/stop/pause have nothing to name)")),
    _o("cpus", "c", VALUE, "Number of vCPUs", SAME, metavar="N",
       note="default 1 (kvmtool: every host CPU)"),
    _o("mem", "m", VALUE, "Guest RAM, in MiB or with a B/K/M/G/T/P suffix",
       Rename("--mem", convert="mem"), metavar="SIZE",
       note="default 256 MiB (kvmtool: scaled with the vCPUs); no @address"),
    _o("disk", "d", VALUE, "Disk image (a rootfs directory is not supported)", SAME,
       metavar="FILE[,ro]", note="raw image files only: no rootfs directory over 9p"),
    _o("balloon", "", FLAG, "virtio balloon", Missing("vmm has no virtio balloon")),
    _o("vnc", "", FLAG, "VNC framebuffer", _NO_FRAMEBUFFER),
    _o("gtk", "", FLAG, "GTK framebuffer", _NO_FRAMEBUFFER),
    _o("sdl", "", FLAG, "SDL framebuffer", _NO_FRAMEBUFFER),
    _o("rng", "", FLAG, "virtio entropy device", SAME),
    _o("nodefaults", "", FLAG, "Add nothing implicit (vmm never does)", SAME,
       note="vmm never adds a rootfs, a card or command-line words, with or without it"),
    _o("9p", "", VALUE, "Share a host directory over virtio-9p", Missing(
        "vmm has no virtio-9p device"), metavar="DIR,TAG"),
    _o("console", "", VALUE, "Guest console: serial or virtio", SAME, metavar="serial|virtio",
       note="no hv console"),
    _o("vsock", "", VALUE, "virtio-vsock guest CID", Missing("vmm has no virtio-vsock device"),
       metavar="CID"),
    _o("dev", "", VALUE, "KVM device file", Missing("vmm always opens /dev/kvm"),
       metavar="FILE"),
    _o("tty", "", VALUE, "Remap a guest TTY to a host pty", Missing(
        "vmm has one console, on its standard input and output"), metavar="N"),
    _o("sandbox", "", VALUE, "Script to run in a custom rootfs", Missing(
        "vmm boots no rootfs of its own (vmm's --sandbox is a seccomp sandbox, not this)"),
       metavar="SCRIPT"),
    _o("hugetlbfs", "", VALUE, "Map guest RAM from this hugetlbfs directory", SAME,
       metavar="PATH"),
    _o("virtio-legacy", "", FLAG, "Legacy virtio transport", Missing(
        "vmm's virtio devices are modern (virtio 1.x) only")),
    _o("virtio-transport", "", VALUE, "virtio transport: mmio or pci", SAME,
       metavar="mmio|pci"),
    _o("loglevel", "", VALUE, "Verbosity: error, warning, info or debug", SAME,
       metavar="LEVEL"),
    # Kernel options
    _o("kernel", "k", VALUE, "Kernel to boot", SAME, metavar="FILE",
       note="none given: vmm's built-in guest (kvmtool looks for the host's kernel)"),
    _o("initrd", "i", VALUE, "Initial RAM disk", SAME, metavar="FILE"),
    _o("params", "p", VALUE, "Kernel command line", SAME, metavar="PARAMS"),
    _o("firmware", "f", VALUE, "Firmware image to boot instead of a kernel", SAME,
       metavar="FILE"),
    _o("flash", "F", VALUE, "Flash image for the guest", SAME, metavar="FILE"),
    # Networking options
    _o("network", "n", OPTIONAL_VALUE, "A virtio network card (mode=none: none)", SAME,
       default="mode=user", metavar="PARAMS",
       note="mode=tap and mode=none; vmm adds no card unless asked (kvmtool: a user-mode "
            "card); a bare -n asks for kvmtool's default, mode=user"),
    _o("no-dhcp", "", FLAG, "No kernel DHCP in rootfs mode", Missing(
        "vmm boots no rootfs of its own")),
    # VFIO options
    _o("vfio-pci", "", VALUE, "Assign a host PCI device", Missing("vmm has no VFIO"),
       metavar="BDF"),
    # Debug options
    _o("debug", "", FLAG, "Debug messages (as --loglevel=debug)",
       Rename(words=("--loglevel=debug",))),
    _o("debug-single-step", "", FLAG, "Single-step the guest", _NO_DEBUG_AID),
    _o("debug-ioport", "", FLAG, "Trace port I/O", _NO_DEBUG_AID),
    _o("debug-mmio", "", FLAG, "Trace MMIO", _NO_DEBUG_AID),
    _o("debug-iodelay", "", VALUE, "Delay I/O by milliseconds", _NO_DEBUG_AID, metavar="MS"),
    # Architecture options: arm and arm64
    _o("aarch32", "", FLAG, "Run an AArch32 guest", Missing(
        "vmm boots AArch64 guests only"), arch="arm64"),
    _o("pmu", "", FLAG, "Give the vCPUs a PMUv3", SAME, arch="arm64"),
    _o("disable-mte", "", FLAG, "No Memory Tagging Extension", SAME, arch="arm64"),
    _o("vcpu-affinity", "", VALUE, "Host CPUs the vCPUs run on", Missing(
        "vmm doesn't pin vCPU threads (use taskset on vmm)"), arch="arm64",
       metavar="CPULIST"),
    _o("kaslr-seed", "", VALUE, "KASLR seed in the device tree", Missing(
        "vmm's device tree has no /chosen kaslr-seed"), arch="arm64", metavar="N"),
    _o("no-pvtime", "", FLAG, "No stolen-time accounting", SAME, arch="arm64"),
    _o("sve-max-vl", "", VALUE, "Largest SVE vector length, in bits", Missing(
        "vmm gives normal VMs KVM's default SVE lengths (--disable-sve turns SVE off)"),
       arch="arm64", metavar="BITS"),
    _o("dump-dtb", "", VALUE, "Also write the device tree to this file",
       Rename("--dtb-out"), arch="arm64 riscv", metavar="FILE"),
    _o("override-bad-firmware-cntfrq", "", VALUE, "Timer frequency in the device tree",
       Missing("vmm's device tree leaves the timer frequency to the hardware"),
       arch="arm64", metavar="HZ"),
    _o("force-pci", "", FLAG, "virtio over PCI (as --virtio-transport=pci)",
       Rename(words=("--virtio-transport=pci",)), arch="arm64"),
    _o("irqchip", "", VALUE, "Interrupt controller: gicv2, gicv2m, gicv3 or gicv3-its",
       SAME, arch="arm64", metavar="TYPE",
       note="gicv3, gicv2 (and vmm's auto); gicv3-its is passed on for vmm's ITS; no gicv2m"),
    _o("firmware-address", "", VALUE, "Where the firmware is loaded", Missing(
        "vmm loads firmware at the start of RAM"), arch="arm64", metavar="ADDR"),
    # Architecture options: x86
    _o("vidmode", "", VALUE, "Video mode", Missing("vmm has no framebuffer"), arch="x86",
       metavar="MODE"),
    # Architecture options: riscv (and its --disable-<extension> flags, matched by
    # prefix: see RISCV_DISABLE_PREFIX)
    _o("custom-mvendorid", "", VALUE, "mvendorid shown to the guest", Missing(
        "vmm shows the host's IDs"), arch="riscv", metavar="N"),
    _o("custom-marchid", "", VALUE, "marchid shown to the guest", Missing(
        "vmm shows the host's IDs"), arch="riscv", metavar="N"),
    _o("custom-mimpid", "", VALUE, "mimpid shown to the guest", Missing(
        "vmm shows the host's IDs"), arch="riscv", metavar="N"),
)

#: kvmtool's riscv build has one ``--disable-<extension>`` flag per ISA extension;
#: they are passed on when vmm's riscv plugin has the same flag.
RISCV_DISABLE_PREFIX = "disable-"

#: The commands ``lkvm --help`` lists, with what vmm-lkvm does for each.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("run", "Boot a guest (vmm's run path)"),
    ("setup", "Create a rootfs for run (not in vmm)"),
    ("pause", "Pause a running guest (not in vmm)"),
    ("resume", "Resume a paused guest (not in vmm)"),
    ("version", "Print the version"),
    ("list", "List running guests (not in vmm)"),
    ("debug", "Debug a running guest (not in vmm)"),
    ("balloon", "Resize a running guest's balloon (not in vmm)"),
    ("stop", "Stop a running guest (not in vmm)"),
    ("stat", "Show a running guest's statistics (not in vmm)"),
    ("sandbox", "Run a command in a sandboxed guest (not in vmm)"),
)


def find_long(name: str) -> KvmtoolOption | list[KvmtoolOption] | None:
    """The option named ``name`` or uniquely abbreviated by it (kvmtool accepts any
    unambiguous prefix); a list of the candidates when ambiguous; None if unknown."""
    for option in OPTIONS:
        if option.long == name:
            return option
    candidates = [option for option in OPTIONS if option.long.startswith(name)]
    if len(candidates) == 1:
        return candidates[0]
    return candidates or None


def find_short(letter: str) -> KvmtoolOption | None:
    return next((option for option in OPTIONS if option.short == letter), None)


def _vmm_side(option: KvmtoolOption) -> tuple[str, str]:
    """What vmm does with ``option``: (vmm's words, what is missing)."""
    vmm = option.vmm
    if isinstance(vmm, Missing):
        return "refused (exit 129)", vmm.why
    if vmm.words:
        return " ".join(f"`{word}`" for word in vmm.words), ""
    flag = vmm.flag or f"--{option.long}"
    value = "" if option.kind == FLAG else "=VALUE"
    note = "vmm-lkvm converts the size to MiB" if vmm.convert == "mem" else ""
    if option.arch:
        note = "; ".join(filter(None, [note, f"where vmm's {option.arch} plugin declares it"]))
    note = "; ".join(filter(None, [option.note, note]))
    return f"`{flag}{value}`", note


def markdown_table() -> str:
    """The option table of docs/kvmtool.md."""
    rows = ["| `lkvm run` option | kvmtool arch | vmm run gets | notes, what is missing |",
            "|---|---|---|---|"]
    for option in OPTIONS:
        spelling = f"`-{option.short}`, " if option.short else ""
        spelling += f"`--{option.long}`"
        words, note = _vmm_side(option)
        rows.append(f"| {spelling} | {option.arch or 'all'} | {words} | {note} |")
    rows.append(f"| `--{RISCV_DISABLE_PREFIX}<ext>` | riscv | the same flag | where vmm's riscv "
                "plugin declares it |")
    return "\n".join(rows) + "\n"
