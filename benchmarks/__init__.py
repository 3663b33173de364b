"""vmm side by side with QEMU: start-up, exit cost, memory (``python -m benchmarks``).

Not part of the pass/fail tests: timings vary from machine to machine, so the suite
prints ratios (vmm / QEMU) measured in one run on the same machine instead of
asserting numbers. See docs/performance.md for what was measured and changed.
"""
