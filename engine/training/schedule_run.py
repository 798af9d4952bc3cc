"""A scheduled run as a chain of training rounds: each round trains up to the schedule's next action, saves,
and the next round applies the action (option changes, part resets) the way a user restarting the trainer
with ``--set`` / ``--reset`` would, so every rule of changing a running model (engine.training.run_plan)
holds for schedules too.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.training import checkpoint as ckpt
from engine.training.run_plan import RunPlan, all_options
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


PlanMaker = Callable[[Any, "dict[str, Any] | None"], RunPlan]


def plan_round(args: Any, stored: dict[str, Any] | None, folder: Path, plan: PlanMaker) -> RoundPlan:
    """The plan of this round: ``args`` (the CLI's, or :func:`round_args`) plus the schedule's due actions;
    ``plan`` turns such arguments into the session plan (the CLI's flags -> engine.training.run_plan.plan)."""
    p = plan(args, stored)
    start = 0 if not stored or p.reset_iteration else int(stored["iteration"])
    sched = choose(getattr(args, "schedule", None), stored, p.kind, start, folder / ckpt.MODEL_JSON)
    if sched is None:
        return RoundPlan(p, None, start)
    action = sched.due(start)
    if action is not None:
        if action.options or action.reset:
            with_action = argparse.Namespace(**vars(args))
            with_action.set = option_sets(action.options) + list(args.set or [])  # the user's own --set wins
            with_action.reset = list(args.reset or []) + [r for r in action.reset if r not in (args.reset or [])]
            p = plan(with_action, stored)
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


def round_args(args: argparse.Namespace) -> argparse.Namespace:
    """The arguments of a following round: the model folder's own state only (flags were applied already)."""
    nxt = argparse.Namespace(**vars(args))
    for opt in all_options():
        setattr(nxt, opt.name, None)
    nxt.config = nxt.set = nxt.reset = nxt.kind = nxt.src = nxt.dst = nxt.schedule = None
    nxt.resume = True
    return nxt
