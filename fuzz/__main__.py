"""``python -m fuzz TARGET [--runs N] [--corpus DIR]``: run one target under atheris.

Prints libFuzzer's progress lines (``cov:`` is the number of code edges reached);
a finding stops the run with the input saved as ``crash-*`` in the artifacts
directory (default ``fuzz-findings/``). ``--list`` names the targets.
``--smoke N`` runs every target (or TARGET) in this process without atheris, on
its seeds, N random inputs and N mutated seeds: what the test suite runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile

from . import MODULES, OneInput, target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", choices=sorted(MODULES), metavar="TARGET")
    parser.add_argument("--runs", type=int, default=-1, help="inputs to try (default: forever)")
    parser.add_argument("--corpus", help="directory of inputs kept between runs")
    parser.add_argument("--artifacts", default="fuzz-findings",
                        help="where a crashing input is written")
    parser.add_argument("--max-len", type=int, default=4096, help="longest input tried")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    parser.add_argument("--smoke", type=int, metavar="N",
                        help="no atheris: seeds, N random and N mutated inputs per target")
    args, libfuzzer = parser.parse_known_args(argv)
    if args.smoke is not None:
        logging.disable(logging.WARNING)
        for name in [args.target] if args.target else sorted(MODULES):
            tried = smoke(name, args.smoke)
            print(f"{name}: {tried} inputs, no finding", flush=True)
        return 0
    if args.list or args.target is None:
        for name in sorted(MODULES):
            print(f"{name:16} {target(name).about}")
        return 0
    try:
        import atheris
    except ImportError:
        print("fuzz: atheris is not installed (pip install atheris)", file=sys.stderr)
        return 2
    chosen = target(args.target)
    logging.disable(logging.WARNING)  # a guest error per input would flood the output
    with atheris.instrument_imports(include=["vmm", "fuzz"]):
        one_input = chosen.setup()
        for seed in chosen.seeds():
            one_input(seed)  # imports what the inputs reach, inside the instrumentation
    seeds = chosen.seeds()
    corpus = args.corpus
    if corpus is None:  # the seeds only, in a directory gone once libFuzzer read them
        corpus = tempfile.mkdtemp(prefix=f"vmm-fuzz-{args.target}-")
        one_input = _removing_after(corpus, len(seeds) + 1, one_input)
    os.makedirs(corpus, exist_ok=True)
    for index, seed in enumerate(seeds):
        with open(os.path.join(corpus, f"seed-{index}"), "wb") as handle:
            handle.write(seed)
    os.makedirs(args.artifacts, exist_ok=True)
    flags = [sys.argv[0], f"-runs={args.runs}", f"-max_len={args.max_len}",
             f"-artifact_prefix={os.path.join(args.artifacts, args.target)}-", *libfuzzer, corpus]
    atheris.Setup(flags, one_input)
    atheris.Fuzz()  # libFuzzer ends the process (C exit: no Python clean-up runs)
    return 0


def smoke(name: str, count: int) -> int:
    """Feed target ``name`` its seeds, ``count`` random inputs and ``count`` seeds
    with random bytes changed; a finding raises. Returns the inputs tried."""
    import random

    chosen = target(name)
    one_input = chosen.setup()
    seeds = chosen.seeds() or [b""]
    rng = random.Random(name)
    inputs = list(seeds)
    inputs += [rng.randbytes(rng.randrange(512)) for _ in range(count)]
    for _ in range(count):
        mutated = bytearray(rng.choice(seeds))
        for _ in range(1 + rng.randrange(8)):
            if mutated:
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        inputs.append(bytes(mutated))
    for data in inputs:
        one_input(data)
    return len(inputs)


def _removing_after(directory: str, calls: int, one_input: OneInput) -> OneInput:
    """``one_input`` that removes ``directory`` once it was called ``calls`` times
    (libFuzzer reads each seed file right before running it, an empty input first)."""
    count = 0

    def wrapped(data: bytes) -> None:
        nonlocal count
        count += 1
        if count == calls + 1:
            shutil.rmtree(directory, ignore_errors=True)
        one_input(data)

    return wrapped


if __name__ == "__main__":
    sys.exit(main())
