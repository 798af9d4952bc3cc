"""The STMap pass: for each plate pixel a face covers, where that pixel lies in the face's aligned square.

Direction: plate -> face. ``stmap.R`` / ``stmap.G`` at plate pixel (x, y) hold the normalised coordinates
(s, t) in the face's patch (the aligned square written to ``patches/``; 0..1, origin bottom-left, pixel
centres at (i + 0.5) / size) of the point that pixel's centre shows. That is what Nuke's STMap node (and
Fusion's Texture / STMap tools) want: the STMap lives in the output (plate) space and says where to read in
the source (face) space, so ``STMap(src = aligned face or paint done on it, stmap = stmap pass)`` puts the
face-space work back on the plate. Where faces overlap, each pixel maps into the face with the larger matte.
Outside every face's region the map is 0 (and the matte is 0).
"""

from __future__ import annotations

import numpy as np

from engine.swap.pipeline import FaceLayer


def face_st(layer: FaceLayer, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(s, t) over the layer's ROI: normalised coordinates in its ``size`` square patch, bottom-left origin."""
    x0, y0, x1, y1 = layer.roi
    xs, ys = np.meshgrid(np.arange(x1 - x0, dtype=np.float64), np.arange(y1 - y0, dtype=np.float64))
    m = np.asarray(layer.out_mat, np.float64)  # ROI pixels -> patch pixels, pixel centres on integers
    u = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
    v = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
    return ((u + 0.5) / size).astype(np.float32), (1.0 - (v + 0.5) / size).astype(np.float32)


def stmap(layers: list[FaceLayer], window: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The (s, t) channels over ``window`` (x0, y0, x1, y1 of the plate): each pixel of a face's ROI maps into
    that face's patch; where ROIs overlap, into the face with the larger matte."""
    wx, wy, wx1, wy1 = window
    s = np.zeros((wy1 - wy, wx1 - wx), np.float32)
    t = np.zeros_like(s)
    best = np.full_like(s, -1.0)
    for layer in layers:
        x0, y0, x1, y1 = layer.roi
        sl = np.s_[y0 - wy:y1 - wy, x0 - wx:x1 - wx]
        fs, ft = face_st(layer, layer.patch.shape[0])
        take = layer.mask > best[sl]
        s[sl] = np.where(take, fs, s[sl])
        t[sl] = np.where(take, ft, t[sl])
        best[sl] = np.where(take, layer.mask, best[sl])
    return s, t


def lookup(source: np.ndarray, s: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Nuke's STMap lookup in numpy: sample ``source`` (HxW or HxWxC, row 0 at the top) bilinearly at the
    normalised (s, t) (bottom-left origin, pixel centres at (i + 0.5) / size); 0 outside the source."""
    h, w = source.shape[:2]
    x = s.astype(np.float64) * w - 0.5
    y = (1.0 - t.astype(np.float64)) * h - 0.5  # rows from the top
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    fx, fy = x - x0, y - y0
    src = source.reshape(h, w, -1).astype(np.float64)
    out = np.zeros(s.shape + (src.shape[2],), np.float64)
    for dy, wy in ((0, 1.0 - fy), (1, fy)):
        for dx, wx in ((0, 1.0 - fx), (1, fx)):
            xi, yi = x0 + dx, y0 + dy
            ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
            sample = src[np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)]
            out += np.where(ok[..., None], sample, 0.0) * (wx * wy)[..., None]
    return out.reshape(s.shape + source.shape[2:]).astype(np.float32)
