"""The swap trainer's loop: steps until a stop, and after each step its log rows, previews and saves (DFL's
Trainer loop).

A step may return its stats pending (engine.training.graph_step.PendingStats: a CUDA graph's losses on their
way to host memory). The loop then reads a step's stats only after queuing the next step, so the host
prepares step k+1 while the GPU computes step k; where something needs the finished step (a preview, a save,
a stop, the last iteration) it waits for it first, so saves and previews hold the weights of the iteration
they name. A step's ms is then the time from the previous step's stats to its own (the loop's throughput).
"""

from __future__ import annotations

import logging
import math
import signal
import time
from dataclasses import dataclass
from typing import Any

from engine.training import checkpoint as ckpt
from engine.training import distributed as dd
from engine.training.pending import ReadClock

log = logging.getLogger("facecomp")


@dataclass
class Queued:
    """A queued step: its iteration, when it was launched, its stats (or their pending copy), its learning rate."""

    iteration: int
    started: float
    stats: Any
    lr: float


class TrainLoop:
    """One run of ``trainer``'s loop (see the module doc); ``run()`` returns the run's summary."""

    def __init__(self, trainer: Any):
        self.t = trainer
        self.times: list[float] = []
        self.done = 0
        self.clock = ReadClock()
        self.last_save = self.last_backup = time.monotonic()
        self.history_every = 10 * max(1, trainer.res // 64)

    def _record(self, q: Queued) -> None:
        """Read ``q``'s stats (waiting for the step if pending) and log them: loss.jsonl, console, TensorBoard."""
        t = self.t
        stats = q.stats.resolve() if hasattr(q.stats, "resolve") else q.stats
        ms = self.clock.lap(q.started)
        self.times.append(ms)
        if t.thread_tuner is not None:
            t.thread_tuner.after_step(ms)
        t.training_seconds += ms / 1000.0
        if t.dist.is_main:
            t.loss_log.append(q.iteration, ms, stats)
            t.console.iteration(q.iteration, ms, stats["loss_src"], stats["loss_dst"])
            if t.tb is not None:
                t.tb.iteration(q.iteration, ms, stats, q.lr, t.batch * t.dist.world)
        t.stop_requested = t.stop_requested or bool(stats["stop"])  # every rank learns of a signal

    def _at_end(self) -> bool:
        """target_iter or the schedule's stop_at reached."""
        t, s = self.t, self.t.s
        target = int(t.options.get("target_iter", 0) or 0)
        return bool(target and t.iteration >= target) or bool(s.stop_at and t.iteration >= s.stop_at)

    def _stop(self) -> bool:
        return self.t.stop_requested or self._at_end()

    def _save_due(self) -> bool:
        s, it = self.t.s, self.t.iteration
        due = (time.monotonic() - self.last_save) >= s.save_every_min * 60.0
        due = due or bool(s.save_every_iter and it % s.save_every_iter == 0)
        return due or bool(s.max_iterations and self.done >= s.max_iterations)

    def _previews_due(self) -> tuple[bool, bool]:
        """(preview.png, a preview history image) due at this iteration (rank 0 only)."""
        t = self.t
        every = bool(t.s.preview_every and t.iteration % t.s.preview_every == 0)
        history = bool(t.options.get("write_preview_history") and t.iteration % self.history_every == 0)
        return every and t.dist.is_main, history and t.dist.is_main

    def _after_step(self) -> bool:
        """Previews and saves due at this iteration; True when the run stops here."""
        t = self.t
        preview, history = self._previews_due()
        if preview:
            t.write_preview()
        if history:
            t.write_preview(history=True)
        stop = self._stop()
        if stop or self._save_due():
            t.save()
            self.last_save = time.monotonic()
            if t.console is not None:
                t.console.saved(t.iteration)
            hours = float(t.options.get("autobackup_hour", 0) or 0)
            if t.dist.is_main and hours and time.monotonic() - self.last_backup >= hours * 3600.0:
                ckpt.write_backup(t.s.model_dir)
                self.last_backup = time.monotonic()
        return stop

    def _more(self) -> bool:
        s = self.t.s
        return not self._at_end() and not (s.max_iterations and self.done >= s.max_iterations)

    def run(self) -> dict[str, Any]:
        t = self.t
        t.setup()
        if t.dist.is_main and (not t.stored or t.s.reset_iteration or t.s.save_at_start):
            t.save()  # the folder is a complete model from the start
        old = {s: signal.signal(s, t.on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        started = t.iteration
        pending: Queued | None = None
        try:
            while self._more():
                started_at = time.perf_counter()
                lr = t.opt.current_lr()
                stats = t.step(t.next_batch())
                t.iteration += 1
                self.done += 1
                if pending is not None:  # the step before this one: read while this one runs
                    self._record(pending)
                pending = Queued(t.iteration, started_at, stats, lr)
                if hasattr(stats, "resolve") and not (self._stop() or self._save_due() or any(self._previews_due())):
                    continue
                self._record(pending)
                pending = None
                if self._after_step():
                    break
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)
            t.close_run()
        if t.dist.enabled:
            if not dd.ranks_agree(t.flat.data, t.dist):
                raise RuntimeError(f"rank {t.dist.rank}: weights differ between ranks after training")
            if t.dist.is_main:
                log.info("%d ranks hold identical weights", t.dist.world)
        return self._summary(started)

    def _summary(self, started: int) -> dict[str, Any]:
        t, times = self.t, self.times
        tail = sorted(times[min(len(times) - 1, 5):]) if times else []
        return {"iteration": t.iteration, "iterations_run": t.iteration - started,
                "stopped_by_signal": t.stop_requested,
                "median_ms": tail[len(tail) // 2] if tail else math.nan,
                "loss": t.loss_log.summary() if t.loss_log else {}, "precision": t.precision.name,
                "device": str(t.device)}
