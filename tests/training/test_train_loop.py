"""engine.training.train_loop: a step's pending stats are read after the next step is queued; previews, saves and
stops wait for the step they name (the CUDA graph's deferred losses, exercised here on the CPU with the real
trainer: each step's stats handed over as PendingStats)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from engine.training.graph_step import PendingStats
from engine.training.pending import SLOTS, HostSlots, PendingValues
from tests.training.conftest import loss_rows


class Logged(PendingStats):
    """PendingStats that note in ``events`` when they are read."""

    def __init__(self, stats: dict[str, Any], iteration: int, events: list[tuple[str, int]]):
        super().__init__(PendingValues(torch.tensor([stats["loss_src"], stats["loss_dst"]], dtype=torch.float64),
                                       None), bool(stats["stop"]))
        self.iteration, self.events = iteration, events

    def resolve(self) -> dict[str, Any]:
        self.events.append(("read", self.iteration))
        return super().resolve()


def _deferred_trainer(src: Path, dst: Path, folder: Path, events: list[tuple[str, int]], stop_at_step: int = 0,
                      **settings: Any) -> tuple[Any, list[dict[str, Any]]]:
    """A tiny CPU SAEHD trainer whose steps return Logged stats; also the stats each step computed, in order."""
    from engine.models import normalize_options
    from engine.training.trainer import Trainer, TrainSettings

    opts = normalize_options("saehd", {"resolution": 64, "archi": "liae-ud", "ae_dims": 32, "e_dims": 16,
                                       "d_dims": 16, "d_mask_dims": 16, "batch_size": 2, "face_type": "wf"})
    t = Trainer(TrainSettings(model_dir=folder, kind="saehd", options=opts, src=src, dst=dst, device="cpu",
                              precision="fp32", quiet=True, tune_threads=False, **settings))
    computed: list[dict[str, Any]] = []
    step, save = t.step, t.save

    def deferred_step(batch: Any) -> Logged:
        computed.append(step(batch))
        n = len(computed)
        events.append(("step", n))
        if n == stop_at_step:
            t.on_signal(2, None)  # Ctrl-C during this step
        return Logged(computed[-1], n, events)

    def noted_save() -> None:
        events.append(("save", t.iteration))
        save()

    t.step, t.save = deferred_step, noted_save  # type: ignore[method-assign]
    return t, computed


def test_stats_are_read_one_step_behind_and_drained_before_saves(src_faces: Path, dst_faces: Path,
                                                                  tmp_path: Path) -> None:
    events: list[tuple[str, int]] = []
    t, computed = _deferred_trainer(src_faces, dst_faces, tmp_path, events, preview_every=0, save_every_iter=3,
                                    max_iterations=5)
    summary = t.run()
    assert events == [("save", 0),  # the new folder, before the first step
                      ("step", 1), ("step", 2), ("read", 1), ("step", 3), ("read", 2), ("read", 3), ("save", 3),
                      ("step", 4), ("step", 5), ("read", 4), ("read", 5), ("save", 5)]
    rows = loss_rows(tmp_path)
    assert [r["iteration"] for r in rows] == [1, 2, 3, 4, 5]
    assert [(r["loss_src"], r["loss_dst"]) for r in rows] == [
        (round(c["loss_src"], 6), round(c["loss_dst"], 6)) for c in computed]
    assert all(r["ms"] > 0 for r in rows) and summary["iteration"] == 5
    assert json.loads((tmp_path / "model.json").read_text())["iteration"] == 5


def test_previews_and_a_signal_wait_for_their_step(src_faces: Path, dst_faces: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[tuple[str, int]] = []
    t, _ = _deferred_trainer(src_faces, dst_faces, tmp_path, events, stop_at_step=4, preview_every=2,
                             max_iterations=50)
    monkeypatch.setattr(t, "write_preview", lambda history=False: events.append(("preview", t.iteration)))
    summary = t.run()
    assert events[:2] == [("save", 0), ("preview", 0)]  # the new folder (a save writes its preview)
    assert events[2:] == [("step", 1), ("step", 2), ("read", 1), ("read", 2), ("preview", 2),
                          ("step", 3), ("step", 4), ("read", 3), ("read", 4), ("preview", 4), ("save", 4),
                          ("preview", 4)]
    assert summary["stopped_by_signal"] and summary["iteration"] == 4
    assert [r["iteration"] for r in loss_rows(tmp_path)] == [1, 2, 3, 4]


def test_each_queued_step_keeps_its_losses_until_read() -> None:
    """GraphedStep's pending stats: each queued step copies its losses to its own host slot, so a step read after
    later ones were queued still reads its own losses; with FACECOMP_DEFER_STATS=0 they are read at once."""
    from types import SimpleNamespace

    from engine.training.graph_step import GraphedStep

    g = GraphedStep.__new__(GraphedStep)  # the stats part alone (a whole GraphedStep needs CUDA)
    extra = torch.tensor([0.5, 0.25, 0.0])
    g.t = SimpleNamespace(flat=SimpleNamespace(extra=extra), device=torch.device("cpu"), stop_requested=False)
    g.defer, g.slots = True, HostSlots(torch.device("cpu"), 2)
    queued = []
    for i in range(SLOTS):
        extra[:2] = torch.tensor([0.5, 0.25]) / 2**i  # step i's losses
        g.t.stop_requested = i == SLOTS - 1
        queued.append(g._stats())
    assert [q.resolve() for q in queued] == [
        {"loss_src": 0.5 / 2**i, "loss_dst": 0.25 / 2**i, "stop": i == SLOTS - 1} for i in range(SLOTS)]
    g.defer = False
    assert g._stats() == {"loss_src": 0.5 / 2**(SLOTS - 1), "loss_dst": 0.25 / 2**(SLOTS - 1), "stop": True}


def test_xseg_reads_each_loss_one_step_late_where_it_defers(dst_faces: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """XSeg's loop with deferring slots (as on CUDA): step k's loss is read after step k+1 is queued, every loss
    reaches on_iter and the report in order, and the last step is read before the final save."""
    from engine.training import xseg_trainer as xt

    events: list[tuple[str, int]] = []
    step = xt.train_step

    class Deferring(HostSlots):
        def __init__(self, device: torch.device, width: int):
            super().__init__(device, width)
            self.defers = True

        def pending(self, values: torch.Tensor) -> PendingValues:
            queued, n = super().pending(values), self.next

            class Noted(PendingValues):
                def get(self) -> list[float]:
                    events.append(("read", n))
                    return super().get()

            return Noted(queued.host, queued.done)

    def noted_step(*args: Any) -> torch.Tensor:
        loss = step(*args)
        events.append(("step", len([e for e in events if e[0] == "step"]) + 1))
        return loss

    monkeypatch.setattr(xt, "HostSlots", Deferring)
    monkeypatch.setattr(xt, "train_step", noted_step)
    seen: list[tuple[int, float]] = []
    options = xt.plan_options(tmp_path / "xseg", {"resolution": 64, "batch_size": 2, "auto": True})
    report = xt.train_xseg(tmp_path / "xseg", [dst_faces], options, target_iter=4, preview_every=0, seed=1,
                           device="cpu", on_iter=lambda it, loss: seen.append((it, loss)))
    assert events == [("step", 1), ("step", 2), ("read", 1), ("step", 3), ("read", 2), ("step", 4), ("read", 3),
                      ("read", 4)]
    assert [it for it, _ in seen] == [1, 2, 3, 4] and [loss for _, loss in seen] == report.losses
    assert report.iteration == 4
