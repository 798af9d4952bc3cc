"""What every benchmark shares: the result row, the table printer and the CPU name.

The interface between bench/run_all.py and each benchmark module ``bench/<name>.py``::

    def run(smoke: bool) -> list[Row]

``smoke=True`` runs a few seconds (tiny sizes, few repetitions) only to prove the benchmark still works; its
figures are not meant to be compared. Each module also runs alone (``python bench/<name>.py``) and should
print its rows with :func:`print_table` there too.

A row is one figure: its value, the baseline it is compared with (measured in the same run, or DeepFaceLab's
figure on this CPU from shared/research/dfl_peer.md), the ratio value/baseline, the target for that ratio and
whether it is met. ``lower_is_better`` decides the direction of the comparison (times: lower; quality: higher).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


@dataclass
class Row:
    """One benchmark figure and how it compares with its baseline."""

    bench: str  # the benchmark module, e.g. "merge"
    figure: str  # what was measured, e.g. "merge ms/frame, 2 workers"
    value: float
    unit: str = ""
    baseline: float | None = None  # same-run baseline or DFL's figure on this CPU
    baseline_name: str = ""  # e.g. "DFL 42 ms (dfl_peer.md §1.2)" or "torch eager, same run"
    target: float | None = None  # wanted ratio value/baseline (e.g. 0.5 = twice as fast as the baseline)
    lower_is_better: bool = True
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """value / baseline (None without a usable baseline)."""
        if self.baseline is None or self.baseline == 0 or not math.isfinite(self.value):
            return None
        return self.value / self.baseline

    @property
    def verdict(self) -> str:
        """"pass" / "miss" against the target ratio, "-" without a target or a ratio."""
        r = self.ratio
        if r is None or self.target is None:
            return "-"
        ok = r <= self.target if self.lower_is_better else r >= self.target
        return "pass" if ok else "miss"

    def to_json(self) -> dict:
        return {**asdict(self), "ratio": self.ratio, "verdict": self.verdict}


def cpu_name() -> str:
    """``lscpu``'s model name, CPU family and core count (every benchmark figure names the CPU)."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=False, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        text = ""
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    model = fields.get("Model name", "unknown CPU").strip()
    return f"{model}, CPU family {fields.get('CPU family', '?').strip()}, {os.cpu_count()} CPUs"


def _loadavg() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


# taken when the benchmarks start: afterwards the load average counts the benchmarks' own work
_START_LOAD = _loadavg()


def load_average() -> str:
    """The 1-minute load average before the benchmarks started, against the core count: figures taken while
    other work ran are contended (re-run them on a quiet machine)."""
    one = _START_LOAD
    if one is None:
        return "load unknown"
    cores = os.cpu_count() or 1
    state = "contended" if one > 0.5 * cores else "quiet"
    return f"load {one:.1f} on {cores} cores before the run ({state})"


def _fmt(v: float | None, digits: int = 3) -> str:
    if v is None:
        return "-"
    if math.isnan(v):
        return "-"
    if not math.isfinite(v):
        return str(v)
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.{digits}g}"


def format_table(rows: list[Row]) -> str:
    """The rows as one fixed-width text table."""
    head = ["bench", "figure", "value", "baseline", "ratio", "target", "result"]
    lines = [head]
    for r in rows:
        value = f"{_fmt(r.value)} {r.unit}".strip() if not math.isnan(r.value) else "-"
        base = f"{_fmt(r.baseline)} {r.baseline_name}".strip() if r.baseline is not None else r.baseline_name or "-"
        ratio = f"{r.ratio:.3f}x" if r.ratio is not None else "-"
        target = ("<=" if r.lower_is_better else ">=") + f"{_fmt(r.target)}x" if r.target is not None else "-"
        verdict = r.verdict + (f" ({r.note})" if r.note else "")
        lines.append([r.bench, r.figure, value, base, ratio, target, verdict])
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    out = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def print_table(rows: list[Row], title: str = "", file: TextIO | None = None) -> None:
    """Print the CPU, the load and the table (what every benchmark shows when run alone)."""
    f = file or sys.stdout
    if title:
        print(title, file=f)
    print(f"CPU: {cpu_name()}; {load_average()}", file=f)
    print(format_table(rows), file=f)


def rows_json(rows: list[Row]) -> str:
    return json.dumps({"cpu": cpu_name(), "rows": [r.to_json() for r in rows]}, indent=1)
