"""What a user sees of a training run: DFL's console line, a progress bar toward target_iter, and the loss
history file ``loss.jsonl`` (one JSON object per iteration).

Console line: ``[HH:MM:SS][#000123][0456ms][0.1234][0.2345]`` (iteration, ms per iteration, src and dst loss);
on a terminal it is rewritten in place, with a tqdm bar when target_iter is set; in a log every 10th
iteration is printed. After each save a line with the mean losses since the previous save stays.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from engine import atomic
from engine.training.loss_plot import WINDOW, window_mean

PRINT_EVERY = 10
MAX_HISTORY = 20000


def dfl_line(iteration: int, ms: float, loss_src: float, loss_dst: float) -> str:
    """DFL's status line; iterations of 10 s or more show seconds instead of milliseconds."""
    t = time.strftime("%H:%M:%S")
    took = f"[{ms / 1000.0:.4f}s]" if ms >= 10000 else f"[{int(ms):04d}ms]"
    return f"[{t}][#{iteration:06d}]{took}[{loss_src:.4f}][{loss_dst:.4f}]"


class Console:
    """Console output of rank 0."""

    def __init__(self, start: int, target: int, quiet: bool = False):
        self.quiet = quiet
        self.tty = sys.stdout.isatty() and os.environ.get("FACECOMP_NO_PROGRESS") != "1"
        self.bar = None
        if self.tty and target > 0 and not quiet:
            self.bar = tqdm(total=target, initial=min(start, target), unit="it", dynamic_ncols=True, leave=False,
                            file=sys.stdout)
        self._since_save: list[tuple[float, float, float]] = []

    def iteration(self, iteration: int, ms: float, loss_src: float, loss_dst: float) -> None:
        self._since_save.append((ms, loss_src, loss_dst))
        if self.quiet:
            return
        line = dfl_line(iteration, ms, loss_src, loss_dst)
        if self.bar is not None:
            self.bar.set_description_str(line, refresh=False)
            self.bar.update(1)
        elif self.tty:
            sys.stdout.write("\r" + line)
            sys.stdout.flush()
        elif iteration % PRINT_EVERY == 0:
            print(line, flush=True)

    def saved(self, iteration: int) -> None:
        rows = self._since_save or [(0.0, float("nan"), float("nan"))]
        n = len(rows)
        ms, src, dst = (sum(r[i] for r in rows) / n for i in range(3))
        self._since_save = []
        if self.quiet:
            return
        line = dfl_line(iteration, ms, src, dst) + " saved"
        if self.bar is not None:
            self.bar.write(line, file=sys.stdout)
        else:
            print(("\r" if self.tty else "") + line, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class LossLog:
    """``loss.jsonl``: rows after ``iteration`` (left by a run killed after its last save) are dropped first."""

    def __init__(self, path: Path, iteration: int):
        self.path = path
        self.history: list[tuple[int, float, float]] = []
        kept: list[str] = []
        dropped = False
        if path.is_file():
            for line in path.read_text("utf-8", errors="replace").splitlines():
                try:
                    row = json.loads(line)
                    it = int(row["iteration"])
                except (ValueError, KeyError, TypeError):
                    dropped = True  # a line cut short by a kill
                    continue
                if it > iteration or (self.history and it <= self.history[-1][0]):
                    dropped = True
                    continue
                kept.append(line)
                self.history.append((it, float(row.get("loss_src", "nan")), float(row.get("loss_dst", "nan"))))
            if dropped:
                atomic.write_text(path, "".join(k + "\n" for k in kept))
        self._thin()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run

    def _thin(self) -> None:
        if len(self.history) > MAX_HISTORY:
            self.history = self.history[::2]

    def append(self, iteration: int, ms: float, stats: dict[str, Any]) -> None:
        row = {"iteration": iteration, "time": round(time.time(), 3), "ms": round(ms, 2)}
        row.update({k: round(float(v), 6) for k, v in stats.items() if k.startswith("loss_")})
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()
        self.history.append((iteration, row["loss_src"], row["loss_dst"]))
        self._thin()

    def summary(self, last: int = WINDOW) -> dict[str, float]:
        """Mean src and dst loss of the last rows (model.json's ``loss``; loss.png's last point)."""
        if not self.history:
            return {}
        src, dst = window_mean(self.history, last)
        return {"src": round(src, 6), "dst": round(dst, 6)}

    def flush(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
