"""DeepFaceLab's sample augmentations (dfl.md §9): random warp, random affine + flip, HSV jitter.

One :class:`WarpParams` is drawn per sample and applied to every output of that sample (warped input,
target, masks), so they share the affine and the flip; only the input gets the random warp. Images use
replicated borders and cubic interpolation, masks zero borders and linear interpolation, as DFL does.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

ROTATION_RANGE = (-10.0, 10.0)
SHIFT_RANGE = (-0.05, 0.05)
FLIP_PROBABILITY = 0.4
WARP_MIN_SIDE = 64


@dataclass
class WarpParams:
    """Random warp maps (at ``size``), the affine of the transform and the flip of one sample."""

    size: int
    mapx: np.ndarray
    mapy: np.ndarray
    affine: np.ndarray  # 2x3
    flip: bool


def truncated_normal(rng: np.random.Generator, shape: tuple[int, ...], limit: float = 2.5) -> np.ndarray:
    """Standard normal values with |z| <= limit (redrawn outside), divided by ``limit`` -> in [-1, 1]."""
    z = rng.standard_normal(shape)
    bad = np.abs(z) > limit
    while bad.any():
        z[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(z) > limit
    return z / limit


@dataclass
class WarpDraw:
    """One sample's random draws: the coarse warp grid (``cell`` px cells at side ``w``), the affine, the flip."""

    size: int
    w: int
    cell: int
    coarse_x: np.ndarray  # (n, n) absolute x of the grid points, n = w // cell + 1
    coarse_y: np.ndarray
    affine: np.ndarray  # 2x3
    flip: bool


def draw_warp(rng: np.random.Generator, size: int, flip: bool, scale_range: tuple[float, float] = (-0.15, 0.15),
              rotation_range: tuple[float, float] = ROTATION_RANGE,
              shift_range: tuple[float, float] = SHIFT_RANGE) -> WarpDraw:
    """Draw one sample's warp: grid cell size/2, /4 or /8, interior grid points displaced by a truncated normal
    × 0.24·cell; rotation ±10°, scale in [1/(1−s0), 1+s1], shift ±5 % of the side; flip with p 0.4 if ``flip``."""
    w = max(WARP_MIN_SIDE, int(size))
    cell = w // (2 ** int(rng.integers(1, 4)))
    n = w // cell + 1
    grid = np.broadcast_to(np.linspace(0, w, n, dtype=np.float32), (n, n)).copy()
    mapx, mapy = grid, grid.T.copy()
    mapx[1:-1, 1:-1] += (truncated_normal(rng, (n - 2, n - 2)) * cell * 0.24).astype(np.float32)
    mapy[1:-1, 1:-1] += (truncated_normal(rng, (n - 2, n - 2)) * cell * 0.24).astype(np.float32)
    rotation = rng.uniform(*rotation_range)
    lo, hi = scale_range
    scale = rng.uniform(1.0 / (1.0 - lo), 1.0 + hi)
    tx, ty = rng.uniform(*shift_range), rng.uniform(*shift_range)
    affine = cv2.getRotationMatrix2D((size // 2, size // 2), rotation, scale)
    affine[:, 2] += (tx * size, ty * size)
    do_flip = bool(flip and rng.random() < FLIP_PROBABILITY)
    return WarpDraw(int(size), w, cell, mapx, mapy, affine, do_flip)


def dense_maps(d: WarpDraw) -> tuple[np.ndarray, np.ndarray]:
    """The per-pixel remap of a draw at side ``w``: the grid resized (linear) to w + cell, centre w x w cut."""
    w, cell = d.w, d.cell
    half = cell // 2
    full = (w + cell, w + cell)
    mapx = cv2.resize(d.coarse_x, full, interpolation=cv2.INTER_LINEAR)[half:half + w, half:half + w]
    mapy = cv2.resize(d.coarse_y, full, interpolation=cv2.INTER_LINEAR)[half:half + w, half:half + w]
    return np.ascontiguousarray(mapx), np.ascontiguousarray(mapy)


def warp_params(rng: np.random.Generator, size: int, flip: bool, scale_range: tuple[float, float] = (-0.15, 0.15),
                rotation_range: tuple[float, float] = ROTATION_RANGE,
                shift_range: tuple[float, float] = SHIFT_RANGE) -> WarpParams:
    """:func:`draw_warp` with its dense maps (the CPU pipeline's form)."""
    d = draw_warp(rng, size, flip, scale_range, rotation_range, shift_range)
    mapx, mapy = dense_maps(d)
    return WarpParams(d.size, mapx, mapy, d.affine, d.flip)


def apply_warp(image: np.ndarray, params: WarpParams, warp: bool, is_mask: bool = False) -> np.ndarray:
    """Random warp (if ``warp``), then the affine, then the flip; ``image`` is ``params.size`` square."""
    size = params.size
    interp = cv2.INTER_LINEAR if is_mask else cv2.INTER_CUBIC
    border = cv2.BORDER_CONSTANT if is_mask else cv2.BORDER_REPLICATE
    out = image
    if warp:
        w = params.mapx.shape[0]
        if w != size:
            out = cv2.resize(out, (w, w), interpolation=cv2.INTER_CUBIC)
        out = cv2.remap(out, params.mapx, params.mapy, interp, borderMode=cv2.BORDER_REPLICATE)
        if w != size:
            out = cv2.resize(out, (size, size), interpolation=cv2.INTER_AREA)
    out = cv2.warpAffine(out, params.affine, (size, size), flags=interp, borderMode=border)
    if params.flip:
        out = out[:, ::-1]
    if out.ndim == 2 and image.ndim == 3:
        out = out[..., None]
    return out


def draw_hsv(rng: np.random.Generator, power: float) -> tuple[float, float, float]:
    """DFL's random_hsv_power draws: hue shift in whole degrees ± int(360·power/2), saturation and value shifts
    U(−0.5, 0.5)·power."""
    h_amount = max(1, int(360 * power * 0.5))
    dh = float(rng.integers(-h_amount, h_amount + 1))
    return dh, (rng.random() - 0.5) * power, (rng.random() - 0.5) * power


def random_hsv(rng: np.random.Generator, image: np.ndarray, power: float) -> np.ndarray:
    """DFL's random_hsv_power on a float BGR 0..1 image (the shifts of :func:`draw_hsv`)."""
    if power <= 0:
        return image
    dh, ds, dv = draw_hsv(rng, power)
    hsv = cv2.cvtColor(image.astype(np.float32), cv2.COLOR_BGR2HSV)
    h, s, v = cv2.split(hsv)
    h = (h + dh) % 360
    s = np.clip(s + ds, 0, 1)
    v = np.clip(v + dv, 0, 1)
    return np.clip(cv2.cvtColor(cv2.merge([h, s, v]), cv2.COLOR_HSV2BGR), 0, 1)
