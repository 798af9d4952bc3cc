"""A scheduled run as a chain of training rounds: each round trains up to the schedule's next action, saves,
and the next round applies the action (option changes, part resets) the way a user restarting the trainer
with ``--set`` / ``--reset`` would, so every rule of changing a running model (engine.training.run_plan)
holds for schedules too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.training import checkpoint as ckpt
from engine.training.run_plan import RunPlan
from engine.training.schedule import Schedule, choose, option_sets

log = logging.getLogger("facecomp")


@dataclass
class RoundPlan:
    """A round: the session plan, the schedule (None without one) and the model iteration it starts at."""

    plan: RunPlan
    schedule: Schedule | None
    start: int

    @property
    def schedule_over(self) -> bool:
        return self.schedule is not None and self.schedule.finished(self.start)


# The session plan of this round with a schedule action's option changes and resets added to what the user
# gave: plan(extra --set items, extra parts to reset) (the CLI wraps engine.training.run_plan.plan).
PlanMaker = Callable[[Sequence[str], Sequence[str]], RunPlan]


def plan_round(stored: dict[str, Any] | None, folder: Path, schedule: str | None, plan: PlanMaker) -> RoundPlan:
    """The plan of this round: the run's own plan plus the schedule's due actions (``schedule``: the
    ``--schedule`` given this round, None to keep the model's)."""
    p = plan((), ())
    start = 0 if not stored or p.reset_iteration else int(stored["iteration"])
    sched = choose(schedule, stored, p.kind, start, folder / ckpt.MODEL_JSON)
    if sched is None:
        return RoundPlan(p, None, start)
    action = sched.due(start)
    if action is not None:
        if action.options or action.reset:
            p = plan(option_sets(action.options), action.reset)
            log.info("schedule %s at iteration %d: %s", sched.name, start, action.describe(sched))
        sched.applied(action)
    return RoundPlan(p, sched, start)


def schedule_hooks(settings: Any, rp: RoundPlan) -> None:
    """Stop the round at the schedule's next action and store the schedule's state with every save."""
    if rp.schedule is None:
        return
    nxt = rp.schedule.next_action(rp.start)
    settings.stop_at = nxt.iteration if nxt is not None else 0
    settings.extra_meta["schedule"] = rp.schedule.to_json()
    settings.save_at_start = settings.save_at_start or rp.schedule.applied_through == rp.start


def next_round(settings: Any, result: dict[str, Any]) -> bool:
    """True when the round stopped at a schedule action (not at a signal, target_iter or --iterations)."""
    if not settings.stop_at or result["iteration"] < settings.stop_at or result.get("stopped_by_signal"):
        return False
    target = int(settings.options.get("target_iter", 0) or 0)
    if target and result["iteration"] >= target:
        return False
    return not (settings.max_iterations and result["iterations_run"] >= settings.max_iterations)
