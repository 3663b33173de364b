"""``python -m benchmarks``: vmm and QEMU on the same guests, a table of ratios.

Bad set-up (binutils or QEMU missing and no root to install them, no /dev/kvm, a guest
that misbehaves) is one line on stderr and exit status 1; ``--debug`` shows the
traceback. Temporary files (the assembled guests) are always removed.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import traceback
from pathlib import Path

from .errors import BenchError
from .guests import assemble, ensure_binutils
from .inhost import measure_in_host
from .report import Metric, print_table, write_json
from .suite import Settings, measure_exits, measure_help, measure_startup
from .vmms import find_qemu, find_vmm, qemu_version

#: The parts of the suite: on this machine's /dev/kvm (help, startup, exits), and in
#: the emulated x86 host (nested: L2 Linux boot; blk: virtio-blk throughput, which
#: also gives the boot row).
PARTS = ("help", "startup", "exits", "nested", "blk")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark vmm side by side with QEMU microvm on this machine's KVM.")
    parser.add_argument("--runs", type=int, default=10,
                        help="runs per VMM for start-up, --help and memory (default 10)")
    parser.add_argument("--exit-runs", type=int, default=5,
                        help="runs per VMM of each exit-cost guest (default 5)")
    parser.add_argument("--exits", type=int, default=100_000,
                        help="exits per exit-cost guest (default 100000)")
    parser.add_argument("--mem", type=int, default=512, help="guest RAM in MiB (default 512)")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds before a run is killed (default 120)")
    parser.add_argument("--only", choices=PARTS, action="append",
                        help="measure only this part (repeatable; default: every part)")
    parser.add_argument("--skip", choices=PARTS, action="append", default=[],
                        help="leave this part out (repeatable); '--skip nested --skip "
                        "blk' keeps to this machine's /dev/kvm (a minute, not ten)")
    parser.add_argument("--nested-runs", type=int, default=3,
                        help="emulated-host sessions for the nested and blk parts "
                        "(default 3, ~1.5 min each)")
    parser.add_argument("--vmm", metavar="COMMAND",
                        help="the vmm command to measure (default: the one beside this Python)")
    parser.add_argument("--json", metavar="FILE", help="also write every sample to FILE")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    if not set(args.only or PARTS) - set(args.skip):
        parser.error("--only and --skip leave nothing to measure")
    for name in ("runs", "exit_runs", "exits", "mem", "nested_runs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def check_kvm() -> None:
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        raise BenchError("/dev/kvm is missing or not accessible: both VMMs need KVM "
                         "(load the kvm module, or run as a member of the 'kvm' group)")


def run_suite(args: argparse.Namespace) -> list[Metric]:
    """Every selected measurement, in the order the table shows them."""
    parts = set(args.only or PARTS) - set(args.skip)
    vmm = find_vmm(args.vmm)
    qemu = find_qemu()
    print(f"vmm: {' '.join(vmm.program)}; QEMU: {qemu_version(qemu)}", file=sys.stderr)
    settings = Settings(args.runs, args.exit_runs, args.exits, args.mem, args.timeout)
    metrics: list[Metric] = []
    if "help" in parts:
        metrics += measure_help(vmm, qemu, settings)
    if parts & {"startup", "exits"}:
        ensure_binutils()
        check_kvm()
        with tempfile.TemporaryDirectory(prefix="vmm-bench-") as directory:
            build = Path(directory)
            if "startup" in parts:
                metrics += measure_startup(vmm, qemu, assemble("empty", 0, build), settings)
            if "exits" in parts:
                loop = assemble("loop", args.exits, build)
                exiting = {kind: assemble(kind, args.exits, build) for kind in ("pio", "mmio")}
                metrics += measure_exits(vmm, qemu, loop, exiting, settings)
    if parts & {"nested", "blk"}:
        metrics += measure_in_host(vmm, args.nested_runs, blk="blk" in parts)
    return metrics


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    load_before = os.getloadavg()[0]
    try:
        metrics = run_suite(args)
    except BenchError as error:
        if args.debug:
            traceback.print_exception(error)
        print(f"benchmarks: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("benchmarks: interrupted", file=sys.stderr)
        return 130
    load = f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    print(f"\nvmm vs QEMU microvm on {platform.node()} ({platform.machine()}, "
          f"{os.cpu_count()} CPUs, {load}), ratios of medians of interleaved runs:\n")
    print_table(metrics, sys.stdout)
    if args.json:
        write_json(metrics, {"host": platform.node(), "load": load, "runs": str(args.runs),
                             "exit_runs": str(args.exit_runs), "exits": str(args.exits),
                             "mem_mib": str(args.mem)}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
