"""Results and the table of ratios (vmm / QEMU) the suite prints."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from typing import TextIO


@dataclass(frozen=True)
class Target:
    """What a metric should reach: a bound on the ratio, or on vmm's own median."""

    bound: float
    #: "ratio<=", "ratio>=" (vmm / QEMU medians) or "vmm<" (vmm's median, in the unit).
    kind: str

    def describe(self, unit: str) -> str:
        if self.kind == "vmm<":
            return f"vmm < {self.bound:g} {unit}"
        return f"{self.kind[-2:]} {self.bound:g}"

    def met(self, metric: Metric) -> bool:
        if self.kind == "vmm<":
            return statistics.median(metric.vmm) < self.bound
        ratio = metric.ratio()
        if ratio is None:
            return False
        return ratio <= self.bound if self.kind == "ratio<=" else ratio >= self.bound


@dataclass
class Metric:
    """One measured quantity: vmm's samples and QEMU's (the reference), same unit."""

    name: str
    unit: str
    vmm: list[float] = field(default_factory=list)
    qemu: list[float] = field(default_factory=list)
    target: Target | None = None
    #: Why there are no samples ("not yet measurable: ..."), or a remark.
    note: str = ""

    def ratio(self) -> float | None:
        """vmm's median over QEMU's, when both were measured."""
        if not self.vmm or not self.qemu:
            return None
        reference = statistics.median(self.qemu)
        return statistics.median(self.vmm) / reference if reference else None

    def paired_ratios(self) -> list[float]:
        """Run-by-run ratios (the runs were interleaved vmm, QEMU, vmm, ...)."""
        return [v / q for v, q in zip(self.vmm, self.qemu, strict=False) if q]


def spread(samples: list[float]) -> str:
    """``min / median / max`` with three significant digits."""
    if not samples:
        return "-"
    return " / ".join(f"{value:.3g}" for value in (min(samples), statistics.median(samples),
                                                   max(samples)))


def _row(metric: Metric) -> list[str]:
    ratio = metric.ratio()
    pairs = metric.paired_ratios()
    ratio_text = "-" if ratio is None else f"{ratio:.2f}"
    if ratio is not None and len(pairs) > 1:
        ratio_text += f" ({min(pairs):.2f}-{max(pairs):.2f})"
    target = "-"
    if metric.target is not None:
        verdict = "ok" if metric.vmm and metric.target.met(metric) else "MISSED"
        if not metric.vmm:
            verdict = "n/a"
        target = f"{metric.target.describe(metric.unit)}: {verdict}"
    return [metric.name, metric.unit, spread(metric.vmm), spread(metric.qemu), ratio_text, target]


HEADER = ["metric", "unit", "vmm min / med / max", "QEMU min / med / max",
          "vmm/QEMU (runs)", "target"]


def print_table(metrics: list[Metric], out: TextIO) -> None:
    """The aligned table, then one line per metric that has a note."""
    rows = [HEADER] + [_row(metric) for metric in metrics]
    widths = [max(len(row[column]) for row in rows) for column in range(len(HEADER))]
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip(), file=out)
        if index == 0:
            print("  ".join("-" * width for width in widths), file=out)
    notes = [metric for metric in metrics if metric.note]
    if notes:
        print(file=out)
        for metric in notes:
            print(f"{metric.name}: {metric.note}", file=out)


def write_json(metrics: list[Metric], context: dict[str, str], path: str) -> None:
    """Every sample, for later comparison (docs/performance.md quotes these)."""
    payload = {"context": context, "metrics": [
        {**asdict(metric), "ratio": metric.ratio()} for metric in metrics]}
    with open(path, "w") as stream:
        json.dump(payload, stream, indent=1)
