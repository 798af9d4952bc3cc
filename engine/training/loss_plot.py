"""``loss.png``: src and dst loss over the iterations on a log scale, with axes, the raw values faint and a
trailing mean over ``WINDOW`` iterations bright. The mean's last point is the loss model.json stores
(``LossLog.summary`` uses :func:`window_mean` too), so the plot and the model folder agree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

WINDOW = 100
COLOURS = ((255, 160, 40), (60, 190, 255), (120, 220, 120), (200, 120, 255))  # BGR: src, dst, more terms
NAMES = ("src", "dst")
FONT = cv2.FONT_HERSHEY_SIMPLEX


def window_mean(rows: Sequence[Sequence[float]], window: int = WINDOW) -> list[float]:
    """Mean of each loss column over the last ``window`` rows (rows: iteration, loss, loss ...)."""
    tail = np.asarray(rows[-window:], np.float64)[:, 1:]
    return [float(v) for v in tail.mean(axis=0)]


@dataclass
class LossCurves:
    """What loss.png draws: iterations, raw and smoothed losses (N, K), the last means and the y range."""

    iterations: np.ndarray
    raw: np.ndarray
    smooth: np.ndarray
    last: list[float]
    low: float
    high: float


def loss_curves(history: Sequence[tuple[int, float, float]], window: int = WINDOW) -> LossCurves:
    arr = np.asarray(history, np.float64)
    its, raw = arr[:, 0], arr[:, 1:]
    csum = np.cumsum(np.nan_to_num(raw), axis=0)
    counts = np.minimum(np.arange(1, len(raw) + 1), window)[:, None]
    shifted = np.vstack([np.zeros((window, raw.shape[1])), csum])[: len(raw)]
    smooth = (csum - shifted) / counts  # trailing mean (over fewer rows at the start)
    last = window_mean(history, window)
    smooth[-1] = last  # exactly model.json's figure (the running sum may differ in the last bits)
    finite = raw[np.isfinite(raw) & (raw > 0)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (1e-3, 1.0)
    if high <= low * 1.0001:
        low, high = low / 2.0, high * 2.0
    return LossCurves(its, raw, smooth, last, low / 1.05, high * 1.05)


def _nice_step(span: float, ticks: int = 6) -> float:
    raw = span / max(1, ticks)
    mag = 10.0 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    return next((m * mag for m in (1, 2, 5, 10) if m * mag >= raw), 10 * mag)


def _iter_label(v: float) -> str:
    return f"{v / 1e6:g}M" if v >= 1e6 else f"{v / 1e3:g}k" if v >= 1e4 else f"{v:g}"


def _log_ticks(low: float, high: float) -> list[float]:
    ticks = []
    for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1):
        ticks += [m * 10.0 ** e for m in (1, 2, 5) if low <= m * 10.0 ** e <= high]
    if len(ticks) < 2:
        ticks = [float(f"{v:.2g}") for v in np.geomspace(low, high, 4)[1:-1]]
    return ticks


def loss_plot(history: Sequence[tuple[int, float, float]], width: int = 800, height: int = 300) -> np.ndarray:
    """The loss graph as a BGR uint8 image (blank with a note when there is no history yet)."""
    img = np.full((height, width, 3), 24, np.uint8)
    if not history:
        cv2.putText(img, "no iterations yet", (10, 20), FONT, 0.45, (200, 200, 200), 1, cv2.LINE_AA)
        return img
    c = loss_curves(history)
    left, right, top, bottom = 58, width - 10, 22, height - 24
    x0, x1 = float(c.iterations[0]), float(c.iterations[-1])
    span = max(1.0, x1 - x0)
    ly0, ly1 = math.log10(c.low), math.log10(c.high)

    def px(x: np.ndarray | float) -> np.ndarray:
        return left + (np.asarray(x) - x0) / span * (right - left)

    def py(y: np.ndarray | float) -> np.ndarray:
        v = np.log10(np.clip(np.asarray(y, np.float64), c.low, c.high))
        return bottom - (v - ly0) / (ly1 - ly0) * (bottom - top)

    grid, text = (52, 52, 52), (200, 200, 200)
    for t in _log_ticks(c.low, c.high):
        y = int(round(float(py(t))))
        cv2.line(img, (left, y), (right, y), grid, 1)
        cv2.putText(img, f"{t:g}", (4, y + 4), FONT, 0.35, text, 1, cv2.LINE_AA)
    step = _nice_step(span)
    for t in np.arange(math.ceil(x0 / step) * step, x1 + 1e-9, step):
        x = int(round(float(px(t))))
        cv2.line(img, (x, top), (x, bottom), grid, 1)
        cv2.putText(img, _iter_label(t), (x - 12, height - 8), FONT, 0.35, text, 1, cv2.LINE_AA)
    cv2.rectangle(img, (left, top), (right, bottom), (110, 110, 110), 1)
    for k in range(c.raw.shape[1]):
        colour = COLOURS[k % len(COLOURS)]
        faint = tuple(int(v * 0.4 + 24 * 0.6) for v in colour)
        for values, col in ((c.raw[:, k], faint), (c.smooth[:, k], colour)):
            pts = np.stack([px(c.iterations), py(values)], axis=1).round().astype(np.int32)
            cv2.polylines(img, [pts], False, col, 1, cv2.LINE_AA)
    label = f"iter {int(x1)}  " + "  ".join(
        f"{NAMES[k] if k < len(NAMES) else k} {v:.4f}" for k, v in enumerate(c.last))
    cv2.putText(img, label + f"  (mean of last {min(WINDOW, len(history))}, log scale)", (left, 14), FONT, 0.4,
                text, 1, cv2.LINE_AA)
    return img
