"""Temporal smoothing of landmark tracks and the jitter measure.

The filter is a One-Euro filter (Casiez et al., CHI 2012) run forward and backward over a whole segment
and averaged: the adaptive cutoff keeps fast motion (the cutoff rises with speed), the two directions cancel
the filter's lag, and a segment never crosses a cut (the caller splits tracks there). Coordinates are divided
by the face size first, so the parameters mean the same for small and large faces.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class OneEuro:
    """One-Euro parameters: cutoffs in Hz, speed in face sizes per second."""

    min_cutoff: float = 0.5
    beta: float = 8.0
    d_cutoff: float = 1.0
    fps: float = 30.0

    def to_dict(self) -> dict[str, float]:
        return {"method": "one-euro-forward-backward", **asdict(self)}


def _alpha(cutoff: np.ndarray | float, rate: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau * rate)


def one_euro(x: np.ndarray, p: OneEuro) -> np.ndarray:
    """Causal One-Euro filter along time of a (T, P, 2) point track.

    The speed that opens the cutoff is, per point, the larger of the point's own speed and the speed of the
    whole point set (its mean velocity): a head turn opens every point at once (no lag from noisy per-point
    speed estimates), while a point that moves alone (a jaw while speaking) still opens its own cutoff.
    """
    x = np.asarray(x, np.float64)
    out = np.empty_like(x)
    if len(x) == 0:
        return out
    rate = p.fps
    a_d = _alpha(p.d_cutoff, rate)
    prev = x[0].copy()
    dprev = np.zeros_like(prev)
    out[0] = prev
    for t in range(1, len(x)):
        dprev = dprev + a_d * ((x[t] - prev) * rate - dprev)
        speed = np.maximum(np.linalg.norm(dprev, axis=-1), np.linalg.norm(dprev.mean(axis=0)))
        a = np.asarray(_alpha(p.min_cutoff + p.beta * speed, rate))[..., None]
        prev = prev + a * (x[t] - prev)
        out[t] = prev
    return out


def smooth_sequence(x: np.ndarray, p: OneEuro) -> np.ndarray:
    """Zero-lag smoothing of a (T, P, 2) point track: mean of the forward and the backward One-Euro pass."""
    x = np.asarray(x, np.float64)
    if len(x) < 3:
        return x.copy()
    return 0.5 * (one_euro(x, p) + one_euro(x[::-1], p)[::-1])


def face_scale(landmarks: np.ndarray) -> np.ndarray:
    """Per-frame face size (bounding-box diagonal of the 68 points) of a (T, 68, 2) array."""
    span = landmarks.max(axis=1) - landmarks.min(axis=1)
    return np.hypot(span[:, 0], span[:, 1])


def smooth_landmarks(landmarks: np.ndarray, p: OneEuro) -> np.ndarray:
    """Smooth a (T, 68, 2) landmark track of one face in one shot."""
    lm = np.asarray(landmarks, np.float64)
    if len(lm) < 3:
        return lm.copy()
    scale = float(np.median(face_scale(lm))) or 1.0
    return smooth_sequence(lm / scale, p) * scale


def jitter(landmarks: np.ndarray, points: list[int] | None = None) -> float:
    """RMS of the second temporal difference of landmark positions (pixels per frame²) of a (T, 68, 2) track."""
    lm = np.asarray(landmarks, np.float64)
    if points is not None:
        lm = lm[:, points]
    if len(lm) < 3:
        return 0.0
    d2 = lm[2:] - 2.0 * lm[1:-1] + lm[:-2]
    return float(np.sqrt(np.mean(np.sum(d2**2, axis=-1))))
