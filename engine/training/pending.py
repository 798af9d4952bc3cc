"""A queued GPU step's few numbers (losses) on their way to host memory, read later without stalling the queue.

Reading a CUDA tensor (``.item()``, ``.tolist()``) waits for everything queued before it, so a training loop
that reads each step's loss at once lets the GPU idle while the host prepares the next step. :class:`HostSlots`
copies the numbers into a ring of pinned host slots right after the step is queued and records an event;
:meth:`PendingValues.get` waits for that event only, so it can be read after the next step was queued
(engine.training.train_loop and the XSeg trainer's loop keep one step in flight). On a CPU the copy is done
at once and nothing waits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

SLOTS = 4  # host slots in the ring: the loops keep one step unread, so a slot is read before it is written again


@dataclass
class PendingValues:
    """Numbers copied to ``host`` once ``done`` (a CUDA event; None when already there) has passed."""

    host: torch.Tensor
    done: Any

    def get(self) -> list[float]:
        """The numbers (waits for the step that wrote them, not for later ones)."""
        if self.done is not None:
            self.done.synchronize()
        return [float(v) for v in self.host.tolist()]


class HostSlots:
    """A ring of ``SLOTS`` host slots of ``width`` numbers (pinned for a CUDA device). ``defers``: whether reading
    later pays (a CUDA device; on a CPU each step is finished when it returns)."""

    def __init__(self, device: torch.device, width: int):
        self.cuda = self.defers = device.type == "cuda"
        self.slots = torch.zeros((SLOTS, width), pin_memory=self.cuda)
        self.next = 0

    def pending(self, values: torch.Tensor) -> PendingValues:
        """Queue the copy of ``values`` (``width`` numbers on the device) into the next slot."""
        slot = self.slots[self.next % SLOTS]
        self.next += 1
        slot.copy_(values.detach().reshape(-1).float(), non_blocking=self.cuda)
        done = None
        if self.cuda:
            done = torch.cuda.Event()
            done.record()
        return PendingValues(slot, done)


class ReadClock:
    """The ms of each step of a loop that reads its steps one behind: from the previous read (or the step's own
    start, when that came later: a step read at once) to this read, the loop's throughput."""

    def __init__(self) -> None:
        self.last = 0.0  # time.perf_counter() of the last read

    def lap(self, started: float) -> float:
        """ms of the step launched at ``started`` (time.perf_counter()), read now."""
        now = time.perf_counter()
        ms = (now - max(started, self.last)) * 1000.0
        self.last = now
        return ms
