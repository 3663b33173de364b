"""vmm and QEMU side by side inside the emulated x86 host: L2 Linux boot (the
``nested`` part) and virtio-blk throughput (the ``blk`` part).

Both need a Linux guest, which this machine's PVM /dev/kvm cannot boot, so they run
under ``vmm nested --arch x86 --shell``: one emulated host (L1) per session, in which
the L1 script boots the same L2 guest (the host's Debian kernel, a busybox
initramfs with the virtio drivers) under vmm and under this machine's QEMU (carried
in by :mod:`benchmarks.peerbundle`), one after the other; sessions alternate which
goes first. Both VMMs give the guest 256 MiB, one vCPU, the 8250 console and a
virtio-blk-pci disk on the same raw image in L1's RAM (recreated for each VMM):
vmm opens it with its page cache, QEMU with ``cache=writeback`` (its default).

Times are stamped here as the L1 console's lines arrive: from the L1 script's
``BENCH-RUN=<vmm>`` line, printed just before it starts that VMM, to the guest's
marker. Throughput is what ``blkbench`` (benchmarks/blkbench.c, built static here)
measured in the guest with O_DIRECT at queue depth 1.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from vmm.core.errors import VmmError

from .errors import BenchError
from .measure import describe_failure, run_process
from .peerbundle import launch_words, write_bundle
from .report import Metric, Target
from .vmms import QEMU_BINARY, Vmm, apt_install, find_qemu

#: Seconds one session may take (L1 boot under TCG, then two L2 guests).
SESSION_TIMEOUT = 900
L2_MARKER = "L2-INIT-REACHED"
GUEST_MEMORY_MIB = 256
DISK_MIB = 256
#: (mode, block bytes, most operations, most seconds) of each blkbench run.
BLK_RUNS = (("seqwrite", 1 << 20, 128, 10), ("seqread", 1 << 20, 128, 10),
            ("randread", 4096, 5000, 5))
BLKBENCH_SOURCE = Path(__file__).with_name("blkbench.c")
#: Where the L1 script unpacks the QEMU bundle and keeps the disk image.
PEER_DIR = "/opt/peer"
DISK_PATH = "/root/disk.raw"
#: The guest's command line under both VMMs. ``reboot=t``: the guest's closing
#: ``reboot -f`` triple-faults, which ends both VMMs (QEMU with -no-reboot); QEMU
#: microvm has no i8042, and Linux's other reset methods there sometimes ended in a
#: KVM emulation failure that leaves QEMU paused instead of exiting.
GUEST_CMDLINE = "console=ttyS0 quiet reboot=t"
VMM_NAMES = ("vmm", "qemu")
BENCH_RUN = re.compile(r"BENCH-RUN=(\w+)")
BENCH_EXIT = re.compile(r"BENCH-EXIT=(\w+):(\d+)")
UPTIME = re.compile(r"uptime=([\d.]+)")
#: What the guest prints first: the marker and its kernel's uptime.
MARKER_LINE = f'echo "{L2_MARKER} uptime=$(cut -d" " -f1 /proc/uptime)"\n'
BLKBENCH = re.compile(r"BLKBENCH mode=(\w+) block=\d+ ops=(\d+) bytes=(\d+) ns=(\d+)")

BOOT_ROW = "nested: L2 Linux, VMM start to initramfs marker"
UPTIME_ROW = "nested: L2 kernel's uptime at that marker"
BLK_ROWS = {
    "seqwrite": ("virtio-blk sequential write, 1 MiB", "MB/s", Target(0.8, "ratio>=")),
    "seqread": ("virtio-blk sequential read, 1 MiB", "MB/s", Target(0.8, "ratio>=")),
    "randread": ("virtio-blk random read, 4 KiB", "IOPS", None),
}


@dataclass
class GuestRun:
    """What one VMM's L2 guest did in a session."""

    to_marker: float | None = None
    #: The L2 kernel's uptime when it printed the marker (its own share of the boot).
    uptime: float | None = None
    exit_status: int | None = None
    #: mode -> MB/s (sequential) or IOPS (random).
    blk: dict[str, float] = field(default_factory=dict)


def blk_figure(mode: str, ops: int, size: int, nanoseconds: int) -> float:
    """MB/s for the sequential modes, IOPS for random reads."""
    seconds = nanoseconds / 1e9
    return ops / seconds if mode == "randread" else size / seconds / 1e6


def parse_session(lines: Iterable[tuple[float, str]]) -> dict[str, GuestRun]:
    """Read one session's stamped console lines into a result per VMM."""
    runs: dict[str, GuestRun] = {}
    current: str | None = None
    started = 0.0
    for stamp, line in lines:
        if match := BENCH_RUN.search(line):
            current, started = match.group(1), stamp
            runs[current] = GuestRun()
        elif match := BENCH_EXIT.search(line):
            runs.setdefault(match.group(1), GuestRun()).exit_status = int(match.group(2))
            current = None
        elif current is None:
            continue
        elif L2_MARKER in line and runs[current].to_marker is None:
            runs[current].to_marker = stamp - started
            if match := UPTIME.search(line):
                runs[current].uptime = float(match.group(1))
        elif match := BLKBENCH.search(line):
            mode, ops, size, nanoseconds = match.groups()
            runs[current].blk[mode] = blk_figure(mode, int(ops), int(size), int(nanoseconds))
    return runs


def guest_body(blk: bool) -> str:
    """What the L2 guest's /init runs once its virtio drivers are loaded."""
    steps = [f"blkbench /dev/vda {mode} {block} {ops} {seconds}"
             for mode, block, ops, seconds in BLK_RUNS] if blk else []
    return "".join(f"{step}\n" for step in (*steps, "reboot -f"))


def l1_script(order: tuple[str, ...], qemu_launch: str) -> str:
    """The L1 shell script: ``$1`` bundle, ``$2`` kernel, ``$3`` initramfs."""
    commands = {
        "vmm": (f"python3 -m vmm run --arch x86 -m {GUEST_MEMORY_MIB} "
                f'-k "$2" -i "$3" -p "{GUEST_CMDLINE}" -d {DISK_PATH}'),
        "qemu": (f"{qemu_launch} -accel kvm -M microvm,pcie=on -cpu host -smp 1 "
                 f"-m {GUEST_MEMORY_MIB} -nodefaults -no-user-config -display none "
                 f'-serial stdio -no-reboot -kernel "$2" -initrd "$3" '
                 f'-append "{GUEST_CMDLINE}" -drive file={DISK_PATH},format=raw,'
                 f"if=none,id=disk0,cache=writeback -device virtio-blk-pci,drive=disk0 "
                 f"</dev/null"),
    }
    lines = [f'mkdir -p {PEER_DIR} && tar -xf "$1" -C {PEER_DIR} || exit 1']
    for name in order:
        lines += [f"dd if=/dev/zero of={DISK_PATH} bs=1M count={DISK_MIB} 2>/dev/null",
                  f"echo BENCH-RUN={name}", commands[name], f"echo BENCH-EXIT={name}:$?"]
    return "\n".join(lines) + "\n"


def build_blkbench(directory: Path) -> Path:
    """Compile blkbench.c statically (gcc and libc6-dev installed if missing)."""
    if shutil.which("gcc") is None or not Path("/usr/lib/x86_64-linux-gnu/libc.a").exists():
        apt_install("gcc")
        apt_install("libc6-dev")
    program = directory / "blkbench"
    result = subprocess.run(["gcc", "-static", "-O2", "-o", str(program), str(BLKBENCH_SOURCE)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        raise BenchError(f"cannot build blkbench: {result.stdout.strip()}")
    return program


@dataclass(frozen=True)
class Session:
    """The files and commands of every session."""

    vmm: Vmm
    bundle: Path
    kernel: Path
    initramfs: Path
    qemu_launch: str
    blk: bool

    def run(self, order: tuple[str, ...]) -> dict[str, GuestRun]:
        """Boot one emulated host and the L2 guest under each VMM in ``order``."""
        script = l1_script(order, self.qemu_launch)
        argv = self.vmm.command("nested", "--arch", "x86", "--timeout", str(SESSION_TIMEOUT),
                                "--shell", "--", "-c", script, "sh", str(self.bundle),
                                str(self.kernel), str(self.initramfs))
        run = run_process(argv, timeout=SESSION_TIMEOUT + 120, env=self.vmm.environment())
        if run.status != 0:
            tail = " | ".join(line for _, line in run.stamped_lines()[-3:])
            raise BenchError(f"the emulated host session failed: {describe_failure(argv, run)}"
                             f" (last console lines: {tail or 'none'})")
        results = parse_session(run.stamped_lines())
        for name in order:
            guest = results.get(name)
            if guest is None or guest.exit_status != 0 or guest.to_marker is None:
                status = "never ran" if guest is None else f"exit status {guest.exit_status}"
                raise BenchError(f"the L2 guest under {name} in the emulated host did not "
                                 f"reach {L2_MARKER} and finish ({status})")
            missing = [mode for mode, *_ in BLK_RUNS if self.blk and mode not in guest.blk]
            if missing:
                raise BenchError(f"blkbench {missing[0]} printed no result under {name}")
        return results


def prepare_session(vmm: Vmm, directory: Path, blk: bool) -> Session:
    """Build the L2 images, blkbench and the QEMU bundle in ``directory``."""
    from tests.boot.l2_images import l2_kernel
    from tests.boot.virtio_images import virtio_initramfs

    qemu_path = Path(find_qemu().program[0])
    loader = write_bundle(qemu_path, directory / "qemu-bundle.tar")
    programs = {"blkbench": build_blkbench(directory)} if blk else {}
    try:
        kernel = l2_kernel("x86")
        initramfs = virtio_initramfs("x86", "pci", guest_body(blk), directory / "l2.cpio",
                                     prelude=MARKER_LINE, programs=programs)
    except (VmmError, OSError, subprocess.CalledProcessError) as error:
        raise BenchError(f"cannot build the L2 kernel and initramfs: {error}") from None
    return Session(vmm, directory / "qemu-bundle.tar", kernel, initramfs,
                   launch_words(PEER_DIR, qemu_path.name, loader), blk)


def measure_in_host(vmm: Vmm, sessions: int, blk: bool) -> list[Metric]:
    """The boot row, and the virtio-blk rows when ``blk``, over ``sessions`` sessions."""
    boot = Metric(BOOT_ROW, "s")
    uptime = Metric(UPTIME_ROW, "s")
    rows = {mode: Metric(name, unit, target=target)
            for mode, (name, unit, target) in BLK_ROWS.items()} if blk else {}
    metrics = [boot, uptime, *rows.values()]
    with tempfile.TemporaryDirectory(prefix="vmm-bench-l2-") as directory:
        session = prepare_session(vmm, Path(directory), blk)
        for index in range(sessions):
            order = VMM_NAMES if index % 2 == 0 else VMM_NAMES[::-1]
            try:
                results = session.run(order)
            except BenchError as error:  # the other measurements still get reported
                boot.note = f"session {index + 1} of {sessions} failed: {error}"
                return metrics
            for name in VMM_NAMES:  # Metric keeps the samples in .vmm and .qemu
                guest = results[name]
                getattr(boot, name).append(guest.to_marker)
                if guest.uptime is not None:
                    getattr(uptime, name).append(guest.uptime)
                for mode, metric in rows.items():
                    getattr(metric, name).append(guest.blk[mode])
    boot.note = (f"{QEMU_BINARY} -M microvm,pcie=on inside the same emulated host; "
                 "times as the L1 console's lines arrived; the difference from the "
                 "uptime row is the VMM's own start-up and the firmware's")
    return metrics
