"""The measurements on this machine's /dev/kvm: start-up, --help, exit cost, memory.

Runs of vmm and QEMU are interleaved (vmm, QEMU, vmm, QEMU, ...) so that a slow
moment of the machine hits both alike; every run's exit status and marker are
checked, so a guest that went wrong is an error, never a fast sample.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import BenchError
from .guests import MARKER, Guest
from .measure import Run, describe_failure, run_process
from .report import Metric, Target
from .vmms import Vmm

MIB = 1024 * 1024
MS = 1e3
US = 1e6


@dataclass(frozen=True)
class Settings:
    """How much to measure."""

    runs: int
    exit_runs: int
    exit_count: int
    mem_mib: int
    timeout: float


def run_guest(vmm: Vmm, guest: Guest, settings: Settings) -> Run:
    """Boot ``guest`` once under ``vmm``; refuse a run that did not end as guest.S does."""
    argv = vmm.guest_command(guest.image, settings.mem_mib)
    run = run_process(argv, marker=MARKER, timeout=settings.timeout, env=vmm.environment())
    if run.status != vmm.ok_status or run.to_marker is None:
        problem = describe_failure(argv, run)
        if run.status == vmm.ok_status:
            problem = f"{vmm.name} never printed the guest's marker {MARKER.decode()!r}"
        raise BenchError(f"{guest.name} guest under {vmm.name}: {problem}")
    return run


def interleaved(vmms: tuple[Vmm, Vmm], guest: Guest, settings: Settings,
                runs: int) -> tuple[list[Run], list[Run]]:
    """``runs`` runs of ``guest`` under each VMM, alternating."""
    first: list[Run] = []
    second: list[Run] = []
    for _ in range(runs):
        first.append(run_guest(vmms[0], guest, settings))
        second.append(run_guest(vmms[1], guest, settings))
    return first, second


def measure_help(vmm: Vmm, qemu: Vmm, settings: Settings) -> list[Metric]:
    """Wall and CPU time of ``vmm --help`` and ``vmm run --help`` (QEMU's for reference)."""
    commands = {"vmm --help": ("--help",), "vmm run --help": ("run", "--help")}
    wall = {name: Metric(name, "ms") for name in commands}
    cpu = {name: Metric(f"{name}, CPU time", "ms") for name in commands}
    wall["vmm --help"].target = Target(150, "vmm<")
    for _ in range(settings.runs):
        for name, args in commands.items():
            for run, samples in ((_help_run(vmm, args, settings), "vmm"),
                                 (_help_run(qemu, ("--help",), settings), "qemu")):
                getattr(wall[name], samples).append(run.to_exit * MS)
                getattr(cpu[name], samples).append(run.cpu * MS)
    metrics = [metric for name in commands for metric in (wall[name], cpu[name])]
    metrics[0].note = "QEMU column of the --help rows: qemu-system-x86_64 --help, for reference"
    return metrics


def _help_run(vmm: Vmm, args: tuple[str, ...], settings: Settings) -> Run:
    argv = vmm.command(*args)
    run = run_process(argv, timeout=settings.timeout, env=vmm.environment())
    if run.status != 0:
        raise BenchError(describe_failure(argv, run))
    return run


def measure_startup(vmm: Vmm, qemu: Vmm, empty: Guest, settings: Settings) -> list[Metric]:
    """Spawn to the guest's first serial byte, spawn to exit, and peak RSS."""
    vmm_runs, qemu_runs = interleaved((vmm, qemu), empty, settings, settings.runs)
    mem = f"-m {settings.mem_mib}"
    marker = Metric("start-up to first guest byte", "ms", target=Target(1.0, "ratio<="))
    exit_ = Metric("start-up to VM exit", "ms")
    cpu = Metric("start-up to VM exit, CPU time", "ms")
    rss = Metric(f"peak RSS, {mem} guest", "MiB", target=Target(1.0, "ratio<="))
    for runs, pick in ((vmm_runs, lambda m: m.vmm), (qemu_runs, lambda m: m.qemu)):
        pick(marker).extend(run.to_marker * MS for run in runs)  # type: ignore[operator]
        pick(exit_).extend(run.to_exit * MS for run in runs)
        pick(cpu).extend(run.cpu * MS for run in runs)
        pick(rss).extend(run.max_rss / MIB for run in runs)
    return [marker, exit_, cpu, rss]


def measure_exits(vmm: Vmm, qemu: Vmm, loop: Guest, exiting: dict[str, Guest],
                  settings: Settings) -> list[Metric]:
    """Per-exit cost: (run with N exits - the same loop without them) / N, run by run."""
    metrics = []
    loop_runs = {vmm.name: [], qemu.name: []}  # type: dict[str, list[Run]]
    exit_runs = {name: {vmm.name: [], qemu.name: []} for name in exiting}
    for _ in range(settings.exit_runs):
        for machine in (vmm, qemu):
            loop_runs[machine.name].append(run_guest(machine, loop, settings))
            for name, guest in exiting.items():
                exit_runs[name][machine.name].append(run_guest(machine, guest, settings))
    targets = {"pio": Target(1.5, "ratio<=")}
    labels = {"pio": "port-I/O exit", "mmio": "MMIO exit (unclaimed store)"}
    for name, guest in exiting.items():
        metric = Metric(f"{labels[name]}, per exit", "us", target=targets.get(name))
        for machine, samples in ((vmm, metric.vmm), (qemu, metric.qemu)):
            for with_exits, without in zip(exit_runs[name][machine.name], loop_runs[machine.name],
                                              strict=True):
                samples.append((with_exits.to_exit - without.to_exit) / guest.count * US)
        metrics.append(metric)
    return metrics

