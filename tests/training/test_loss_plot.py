"""loss.png (issue 18): log-scale axes, nothing clipped, and its last (smoothed) value is model.json's loss."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from engine.training.console import LossLog
from engine.training.loss_plot import loss_curves, loss_plot


def test_last_plotted_value_is_model_json_loss(tiny_saehd: Path, tmp_path: Path):
    meta = json.loads((tiny_saehd / "model.json").read_text())
    log = LossLog(tiny_saehd / "loss.jsonl", meta["iteration"])  # the history the trainer plots
    log.close()
    curves = loss_curves(log.history)
    assert [round(v, 6) for v in curves.last] == [meta["loss"]["src"], meta["loss"]["dst"]]
    assert list(curves.smooth[-1]) == curves.last
    assert curves.iterations[-1] == meta["iteration"] == 40
    png = cv2.imread(str(tiny_saehd / "loss.png"))
    assert png is not None and png.shape == loss_plot(log.history).shape


def test_early_values_are_not_clipped_flat():
    # a loss falling from 2.0 to 0.05: the old plot clipped everything above 2x the recent mean
    its = np.arange(1, 501)
    src = 0.05 + 1.95 * np.exp(-its / 40.0)
    history = [(int(i), float(s), float(s) * 1.2) for i, s in zip(its, src, strict=True)]
    c = loss_curves(history)
    assert c.low <= src.min() and c.high >= 1.2 * src.max()
    assert c.high / c.low > 30  # log scale spans both ends
    # the smoothed line is the trailing mean of 100 iterations
    assert np.isclose(c.smooth[199, 0], src[100:200].mean()) and np.isclose(c.smooth[9, 1], 1.2 * src[:10].mean())
    img = loss_plot(history)
    plot = img[22:276, 60:790]  # inside the axes
    src_colour = np.array([255, 160, 40])
    rows = np.where(np.all(np.abs(plot.astype(int) - src_colour) < 40, axis=2))[0]
    assert rows.min() < 30 and rows.max() > 200  # the src line spans the frame (dst, 1.2x, is above it)


def test_empty_and_flat_histories_draw():
    assert loss_plot([]).shape == (300, 800, 3)
    flat = loss_curves([(1, 0.5, 0.5), (2, 0.5, 0.5)])
    assert flat.low < 0.5 < flat.high
    assert loss_plot([(1, 0.5, 0.5)]).shape == (300, 800, 3)
