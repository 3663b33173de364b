"""What the no-KVM micro-benchmarks (``benchmarks.exitpath``, ``benchmarks.blkpath``)
share: their command line, timing a call in a loop, and profiling one sample."""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections.abc import Callable


def parser(prog: str, doc: str, count_flag: str, count_default: int,
           count_help: str) -> argparse.ArgumentParser:
    """``--<count_flag>``, ``--samples`` and ``--profile``, described by ``doc``'s
    first line."""
    result = argparse.ArgumentParser(prog=prog, description=doc.splitlines()[0])
    result.add_argument(f"--{count_flag}", type=int, default=count_default, help=count_help)
    result.add_argument("--samples", type=int, default=7, help="samples per kind")
    result.add_argument("--profile", action="store_true", help="cProfile one sample")
    return result


def per_call(function: Callable[[], object], count: int) -> float:
    """Microseconds per call of ``function`` over ``count`` calls in a loop."""
    start = time.perf_counter()
    for _ in range(count):
        function()
    return (time.perf_counter() - start) / count * 1e6


def print_profile(title: str, function: Callable[[], object], count: int,
                  lines: int = 12) -> None:
    """cProfile ``count`` calls of ``function`` and print the top ``lines`` by own time."""
    profile = cProfile.Profile()
    profile.runcall(per_call, function, count)
    print(f"--- {title}")
    pstats.Stats(profile, stream=sys.stdout).sort_stats("tottime").print_stats(lines)
