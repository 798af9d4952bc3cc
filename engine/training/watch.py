"""Watching a model folder without touching it (safe while a trainer runs): ``facecomp train --status``.

Reads model.json (of the newest complete checkpoint) and the tail of loss.jsonl; prints the iteration, the
current speed, the schedule's phase, the next change and the ETAs at that speed.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from engine.training import checkpoint as ckpt
from engine.training.schedule import Schedule

SPEED_ROWS = 200
TAIL_BYTES = 64 << 10


def recent_ms_per_iter(loss_jsonl: Path, rows: int = SPEED_ROWS) -> float | None:
    """Median ms per iteration over the last ``rows`` lines of loss.jsonl (None without any)."""
    if not loss_jsonl.is_file():
        return None
    with open(loss_jsonl, "rb") as f:
        skip = max(0, os.fstat(f.fileno()).st_size - TAIL_BYTES)
        f.seek(skip)
        lines = f.read().decode("utf-8", errors="replace").splitlines()[1 if skip else 0:]  # a cut first line
    values = []
    for line in lines[-rows:]:
        try:
            values.append(float(json.loads(line)["ms"]))
        except (ValueError, KeyError, TypeError):
            continue
    if not values:
        return None
    values.sort()
    return values[len(values) // 2]


def duration(seconds: float) -> str:
    """``2d 3h 04m`` / ``3h 04m`` / ``4m 05s``; ``?`` when unknown."""
    if not math.isfinite(seconds):
        return "?"
    s = int(max(0.0, seconds))
    d, h, m = s // 86400, s % 86400 // 3600, s % 3600 // 60
    return f"{d}d {h}h {m:02d}m" if d else f"{h}h {m:02d}m" if h else f"{m}m {s % 60:02d}s"


def status_lines(folder: Path) -> list[str]:
    """The lines of ``facecomp train --status`` for a model folder."""
    meta = ckpt.read_model_json(folder)
    ms = recent_ms_per_iter(folder / "loss.jsonl")
    it = int(meta["iteration"])
    sec = (ms or math.nan) / 1000.0
    speed = f"{ms:.0f} ms/iter" if ms else "speed unknown (no loss.jsonl)"
    loss = meta.get("loss") or {}
    shown = f"; loss src {loss['src']:.4f} dst {loss['dst']:.4f}" if {"src", "dst"} <= set(loss) else ""
    lines = [f"{meta['kind']} model at iteration {it}; {speed}{shown}"]
    target = int((meta.get("options") or {}).get("target_iter", 0) or 0)
    if target:
        lines.append(f"target_iter {target}: {max(0, target - it)} iterations to go, ETA "
                     f"{duration((target - it) * sec)}")
    return lines + _schedule_lines(meta, it, sec, folder / ckpt.MODEL_JSON)


def _schedule_lines(meta: dict[str, Any], it: int, sec: float, where: Path) -> list[str]:
    held = meta.get("schedule")
    if not isinstance(held, dict):
        return ["no schedule (give one with --schedule FILE or a preset: dfl-rtt)"]
    s = Schedule.from_json(held, where)
    i = s.phase_index(it)
    if i >= len(s.phases):
        return [f"schedule {s.name}: finished at iteration {s.end()}"]
    p = s.phases[i]
    ends = "runs on" if p.until is None else f"until iteration {s.start + p.until}"
    opts = ", ".join(f"{k} = {json.dumps(v)}" for k, v in p.options.items()) or "no option changes"
    lines = [f"schedule {s.name}: phase {i + 1}/{len(s.phases)} '{p.name}' ({opts}), {ends}"]
    nxt = s.next_action(it)
    if nxt is not None:
        lines.append(f"next change at iteration {nxt.iteration} (in {nxt.iteration - it}, ETA "
                     f"{duration((nxt.iteration - it) * sec)}): {nxt.describe(s)}")
    end = s.end()
    if end is not None:
        lines.append(f"schedule ends at iteration {end} (ETA {duration((end - it) * sec)})")
    return lines
