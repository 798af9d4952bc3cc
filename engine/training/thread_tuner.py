"""CPU training: keep the number of compute threads that is fastest now (all cores, or half of them).

On a CPU shared with other work (a compositing session beside the training, other jobs), one compute thread per
core can be several times slower than one thread: each of the hundreds of parallel regions of a step waits for
its slowest thread, and a thread that lost its core makes the whole region wait (on the 2-core EPYC of
docs/training.md, res64 liae-ud b4 bf16: ~140 ms/iter with 2 threads on a quiet machine, 300-1100 ms under
load, while 1 thread holds ~200 ms). :class:`ThreadTuner` times the steps as they run and every ``every``
iterations tries the other count (half the cores when at all of them, else all) for ``probe`` steps, keeping
whichever was faster. A probe that loses doubles the wait before the next one (up to 16x), so a quiet machine
pays little for it. Only the thread count changes; the step computes the same thing.
"""

from __future__ import annotations

import logging

import torch

from engine.training.settings import switched_off

log = logging.getLogger("facecomp")

EVERY = 200  # iterations between probes (doubled after each lost probe, up to MAX_BACKOFF times)
MAX_BACKOFF = 16
PROBE = 5  # steps timed at the other thread count (the first one not counted: it sets up the kernels)
MARGIN = 0.9  # the other count must be at least 10 % faster to be kept


def tuner_wanted(device: torch.device) -> bool:
    """On CPU with more than one compute thread, unless ``FACECOMP_THREAD_TUNE=0``."""
    if switched_off("FACECOMP_THREAD_TUNE"):
        return False
    return device.type == "cpu" and torch.get_num_threads() > 1


class ThreadTuner:
    """Call :meth:`after_step` with each step's milliseconds (see the module doc)."""

    def __init__(self, every: int = EVERY, probe: int = PROBE):
        self.full = torch.get_num_threads()
        self.every, self.probe = every, probe
        self.current = self.full
        self.wait = every  # iterations until the next probe
        self.since = 0
        self.recent: list[float] = []  # the last steps at the current count
        self.probing: list[float] | None = None  # steps at the other count while probing

    def wanted(self) -> int:
        """The thread count the tuner runs the next step at (the other one while probing)."""
        return self._other() if self.probing is not None else self.current

    def _other(self) -> int:
        return max(1, self.full // 2) if self.current == self.full else self.full

    def after_step(self, ms: float) -> None:
        if self.probing is None:
            self.since += 1
            self.recent = (self.recent + [ms])[-self.probe:]
            if self.since >= self.wait and len(self.recent) == self.probe:
                self.probing = []
                self.since = 0
                torch.set_num_threads(self._other())
            return
        self.probing.append(ms)
        if len(self.probing) <= self.probe:
            return
        here = sorted(self.recent)[len(self.recent) // 2]
        there = sorted(self.probing[1:])[len(self.probing[1:]) // 2]
        self.probing = None
        if there < here * MARGIN:
            self.current = self._other()
            self.recent = []
            self.wait = self.every
            log.info("compute threads: %d (%.0f ms/iter against %.0f)", self.current, there, here)
        else:
            torch.set_num_threads(self.current)
            self.wait = min(self.wait * 2, self.every * MAX_BACKOFF)

    def close(self) -> None:
        """Leave the process at the thread count it started with."""
        torch.set_num_threads(self.full)
