"""Training schedules: DFL's long-run workflow (random warp, inter resets, warp off, GAN) as phases in a TOML file.

A schedule file holds ``[[phase]]`` tables, each with ``until`` (the phase ends at this iteration, counted
from the iteration at which the schedule was attached; the last phase may leave it out and run on), option
changes in DFL's names (``random_warp = false``, ``gan_power = 0.1``), and actions: ``reset = "inter"``
(a part name or a list) done at the phase start, and with ``reset_every = N`` again every N iterations of the
phase (``reset_at_start = false`` skips the one at the start). Option changes carry over to later phases.

The schedule and its progress live in model.json (key ``schedule``), written in the same atomic save as the
weights, so a run killed at any moment resumes in the phase of its checkpoint with that phase's options.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from engine.errors import FacecompError

log = logging.getLogger("facecomp")

PRESETS = {"dfl-rtt": "dfl-rtt.toml", "quick-test": "quick-test.toml"}
_PHASE_KEYS = ("name", "until", "reset", "reset_every", "reset_at_start")


@dataclass
class Phase:
    """One phase: options set at its start, resets at its start and/or every ``reset_every`` iterations."""

    name: str
    until: int | None  # relative to the schedule's start; None = open-ended (the last phase only)
    options: dict[str, Any] = field(default_factory=dict)
    reset: list[str] = field(default_factory=list)
    reset_every: int = 0
    reset_at_start: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "until": self.until, "options": dict(self.options), "reset": list(self.reset),
                "reset_every": self.reset_every, "reset_at_start": self.reset_at_start}


@dataclass
class Action:
    """What is due at one iteration: option changes (a phase start) and parts to re-initialise."""

    iteration: int
    phase: int
    options: dict[str, Any]
    reset: list[str]

    def describe(self, schedule: Schedule) -> str:
        what = [f"{k} = {json.dumps(v)}" for k, v in self.options.items()] + [f"reset {p}" for p in self.reset]
        if self.phase >= len(schedule.phases):
            return "schedule ends"
        head = f"phase {self.phase + 1} '{schedule.phases[self.phase].name}'"
        return head + (": " + ", ".join(what) if what else "")


@dataclass
class Schedule:
    """The phases, where they start (``start``: model iteration of the schedule's iteration 0) and progress."""

    name: str
    phases: list[Phase]
    start: int = 0
    applied_through: int = -1  # the last model iteration whose actions are in the checkpoint
    log: list[dict[str, Any]] = field(default_factory=list)  # the actions applied so far (model.json keeps it)

    # ---- where a model iteration falls ------------------------------------------------------------
    def phase_start(self, index: int) -> int:
        """Model iteration at which phase ``index`` starts (``len(phases)``: where the schedule ends)."""
        return self.start + (0 if index == 0 else int(self.phases[index - 1].until or 0))

    def end(self) -> int | None:
        last = self.phases[-1].until
        return None if last is None else self.start + int(last)

    def phase_index(self, iteration: int) -> int:
        """The phase of ``iteration`` (``len(phases)`` once the schedule is over)."""
        rel = iteration - self.start
        for i, p in enumerate(self.phases):
            if p.until is None or rel < p.until:
                return i
        return len(self.phases)

    def finished(self, iteration: int) -> bool:
        return self.phase_index(iteration) >= len(self.phases)

    def action_at(self, iteration: int) -> Action | None:
        """The actions due exactly at ``iteration`` (before its next step), or None."""
        i = self.phase_index(iteration)
        if i >= len(self.phases):
            return Action(iteration, i, {}, []) if iteration == self.end() else None
        p, begin = self.phases[i], self.phase_start(i)
        if iteration == begin:
            return Action(iteration, i, dict(p.options), list(p.reset) if p.reset_at_start else [])
        if p.reset and p.reset_every and (iteration - begin) % p.reset_every == 0:
            return Action(iteration, i, {}, list(p.reset))
        return None

    def applied(self, action: Action) -> None:
        """Record ``action`` as done (saved with the next checkpoint)."""
        self.applied_through = action.iteration
        entry: dict[str, Any] = {"iteration": action.iteration, "phase": action.phase + 1}
        entry.update({k: v for k, v in (("options", action.options), ("reset", action.reset)) if v})
        self.log.append(entry)

    def due(self, iteration: int) -> Action | None:
        """The actions of ``iteration`` unless the checkpoint already holds them."""
        return None if iteration <= self.applied_through else self.action_at(iteration)

    def next_action(self, iteration: int) -> Action | None:
        """The first action after ``iteration`` (a reset, a phase start or the end), or None."""
        i = self.phase_index(iteration)
        if i >= len(self.phases):
            return None
        p, begin = self.phases[i], self.phase_start(i)
        candidates = []
        if p.until is not None:
            candidates.append(self.start + int(p.until))
        if p.reset and p.reset_every:
            candidates.append(begin + ((iteration - begin) // p.reset_every + 1) * p.reset_every)
        if not candidates:
            return None
        return self.action_at(min(candidates))

    # ---- model.json ---------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "start": self.start, "applied_through": self.applied_through,
                "phases": [p.to_json() for p in self.phases], "log": list(self.log)}

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str | Path) -> Schedule:
        try:
            phases = [Phase(str(p["name"]), None if p.get("until") is None else int(p["until"]),
                            dict(p.get("options") or {}), [str(r) for r in p.get("reset") or []],
                            int(p.get("reset_every") or 0), bool(p.get("reset_at_start", True)))
                      for p in data["phases"]]
            log = [dict(entry) for entry in data.get("log") or []]
            return cls(str(data.get("name", "schedule")), phases, int(data.get("start", 0)),
                       int(data.get("applied_through", -1)), log)
        except (KeyError, TypeError, ValueError):
            raise FacecompError("damaged schedule in model.json", where) from None

    def same_plan(self, other: Schedule) -> bool:
        return [p.to_json() for p in self.phases] == [p.to_json() for p in other.phases]


# ---- reading schedule files -------------------------------------------------------------------------
def preset_path(name: str) -> Path:
    return Path(str(resources.files("engine.training") / "schedules" / PRESETS[name]))


def load_schedule(spec: str, kind: str) -> Schedule:
    """A schedule from a TOML/JSON file or a preset name, checked against ``kind``'s option table."""
    from engine.options import load_config

    path = preset_path(spec) if spec in PRESETS else Path(spec).expanduser()
    if spec not in PRESETS and not path.is_file():
        raise FacecompError(f"no schedule file or preset of that name (presets: {', '.join(PRESETS)})", spec)
    data = load_config(path, flatten=False)
    where = str(path)
    for key in data:
        if key not in ("name", "phase"):
            raise FacecompError(f"unknown key {key!r} (a schedule holds name and [[phase]] tables)", where)
    raw = data.get("phase")
    if not isinstance(raw, list) or not raw or not all(isinstance(p, dict) for p in raw):
        raise FacecompError("a schedule needs at least one [[phase]] table", where)
    phases = [_phase(p, n + 1, kind, where) for n, p in enumerate(raw)]
    last = 0
    for n, p in enumerate(phases, 1):
        if p.until is None and n < len(phases):
            raise FacecompError(f"phase {n} '{p.name}': until missing (only the last phase may run on)", where)
        if p.until is not None:
            if p.until <= last:
                raise FacecompError(f"phase {n} '{p.name}': until = {p.until} must be above the previous "
                                    f"phase's ({last})", where)
            last = p.until
    return Schedule(str(data.get("name") or (spec if spec in PRESETS else path.stem)), phases)


def _phase(raw: dict[str, Any], number: int, kind: str, where: str) -> Phase:
    from engine.models import architecture_options, model_options

    table = {o.name: o for o in model_options(kind)}
    fixed = set(architecture_options(kind))
    label = f"phase {number}"
    options: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _PHASE_KEYS:
            continue
        if key in fixed:
            raise FacecompError(f"{label}: {key} is fixed when a model is created; a schedule cannot change it",
                                where)
        if key not in table:
            raise FacecompError(f"{label}: unknown key {key!r} (not a {kind} option nor one of "
                                f"{', '.join(_PHASE_KEYS)})", where)
        options[key] = table[key].convert(value, f"{where} {label}")
    until = raw.get("until")
    if until is not None and (isinstance(until, bool) or not isinstance(until, int) or until <= 0):
        raise FacecompError(f"{label}: until must be a positive whole number of iterations, not {until!r}", where)
    reset = raw.get("reset", [])
    reset = [reset] if isinstance(reset, str) else reset
    if not isinstance(reset, list) or not all(isinstance(r, str) and r.isidentifier() for r in reset):
        raise FacecompError(f"{label}: reset must be a part name or a list of them (e.g. \"inter\")", where)
    every = raw.get("reset_every", 0)
    if isinstance(every, bool) or not isinstance(every, int) or every < 0:
        raise FacecompError(f"{label}: reset_every must be a whole number of iterations >= 0", where)
    if every and not reset:
        raise FacecompError(f"{label}: reset_every needs reset = \"<part>\"", where)
    at_start = raw.get("reset_at_start", True)
    if not isinstance(at_start, bool):
        raise FacecompError(f"{label}: reset_at_start must be true or false", where)
    return Phase(str(raw.get("name") or f"phase {number}"), until, options, list(reset), every, at_start)


def choose(spec: str | None, stored: dict[str, Any] | None, kind: str, iteration: int,
           where: str | Path) -> Schedule | None:
    """The schedule of this run: ``spec`` (a file, a preset, or ``none`` to drop it) or the stored one.

    A given schedule equal to the stored one continues it; a different one starts at ``iteration``."""
    held = (stored or {}).get("schedule")
    current = Schedule.from_json(held, where) if isinstance(held, dict) else None
    if spec is None:
        return current
    if spec.strip().lower() == "none":
        return None
    new = load_schedule(spec, kind)
    if current is not None and current.same_plan(new) and current.name == new.name:
        return current
    new.start = iteration
    replaced = f" (replaces {current.name})" if current is not None else ""
    log.info("schedule %s starts at iteration %d%s", new.name, iteration, replaced)
    return new


def option_sets(options: dict[str, Any]) -> list[str]:
    """Option changes as ``--set`` items (the values pass the option table's checks again)."""
    def text(v: Any) -> str:
        return ("true" if v else "false") if isinstance(v, bool) else str(v)

    return [f"{k}={text(v)}" for k, v in options.items()]
