"""Per-face measures used by the sort methods (DeepFaceLab's Sorter, dfl.md §4): sharpness, motion blur,
histograms and their Bhattacharyya distances, brightness, hue, black pixels, absolute differences.

Images are BGR uint8 aligned faces; ``mask`` is the landmark hull (float 0..1) where a method masks.
"""

from __future__ import annotations

import cv2
import numpy as np

BETA = 3.6  # CPBD: shape of the probability-of-blur-detection curve
P_JNB = 0.63  # CPBD: an edge counts as sharp while its blur probability stays at or below this
BLOCK = 64


def _edge_widths(gray: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Width (px) of each vertical-edge pixel: the length of the monotonic run of the row through it,
    i.e. the distance between the local extrema on both sides (CPBD's edge width)."""
    g = gray.astype(np.float32)
    d = np.sign(np.diff(g, axis=1))
    # run ids along each row: a new run starts where the sign of the slope changes
    change = np.ones_like(d, dtype=bool)
    change[:, 1:] = d[:, 1:] != d[:, :-1]
    run_id = np.cumsum(change.ravel()).reshape(d.shape)
    lengths = np.bincount(run_id.ravel())
    width = np.zeros_like(g)
    width[:, 1:] = lengths[run_id]
    return width[edges]


def sharpness(face: np.ndarray, mask: np.ndarray | None = None) -> float:
    """CPBD-style sharpness (0..1, higher = sharper): over 64x64 blocks with edges, the share of Canny edge
    pixels whose width is below the just-noticeable-blur width (5 px, 3 px in high-contrast blocks)."""
    gray = cv2.cvtColor(face, cv2.COLOR_BGR2GRAY)
    if mask is not None:
        gray = (gray * (mask > 0.5)).astype(np.uint8)
    edges = cv2.Canny(gray, 100, 200) > 0
    sobel = np.abs(cv2.Sobel(gray, cv2.CV_32F, 1, 0))
    edges &= sobel > 0  # keep pixels of vertical-ish edges, measured along rows
    if mask is not None:
        edges &= cv2.erode((mask > 0.5).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    total = sharp = 0
    h, w = gray.shape
    for y in range(0, h - BLOCK + 1, BLOCK):
        for x in range(0, w - BLOCK + 1, BLOCK):
            e = edges[y:y + BLOCK, x:x + BLOCK]
            if e.sum() < 0.002 * BLOCK * BLOCK:
                continue
            block = gray[y:y + BLOCK, x:x + BLOCK]
            jnb = 5.0 if float(block.max()) - float(block.min()) <= 51 else 3.0
            widths = _edge_widths(block, e)
            prob = 1.0 - np.exp(-np.power(widths / jnb, BETA))
            total += len(widths)
            sharp += int((prob <= P_JNB).sum())
    return sharp / total if total else 0.0


def motion_sharpness(face: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Variance of the Laplacian (kernel 11) of the (hull-masked) grey face: low for blurred faces."""
    gray = cv2.cvtColor(face, cv2.COLOR_BGR2GRAY).astype(np.float32)
    if mask is not None:
        gray = gray * (mask > 0.5)
    return float(cv2.Laplacian(gray, cv2.CV_32F, ksize=11).var())


def bgr_hist(face: np.ndarray) -> np.ndarray:
    """3 x 256 histograms (B, G, R)."""
    return np.stack([np.bincount(face[..., c].ravel(), minlength=256) for c in range(3)]).astype(np.float64)


def gray_hist(face: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """256-bin grey histogram, of the hull-masked face when ``mask`` is given."""
    gray = cv2.cvtColor(face, cv2.COLOR_BGR2GRAY)
    values = gray[mask > 0.5] if mask is not None else gray.ravel()
    return np.bincount(values, minlength=256).astype(np.float64)


def bhattacharyya(h: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """N x N Bhattacharyya distances (OpenCV's HISTCMP_BHATTACHARYYA formula) of N histograms (N x bins)."""
    h = np.asarray(h, np.float64)
    n, bins = h.shape
    mean = h.mean(1)
    root = np.sqrt(h)
    out = np.empty((n, n))
    for i in range(0, n, chunk):
        s = root[i:i + chunk] @ root.T
        norm = np.sqrt(np.maximum(mean[i:i + chunk, None] * mean[None, :], 1e-300)) * bins
        out[i:i + chunk] = np.sqrt(np.clip(1.0 - s / norm, 0.0, None))
    return out


def hsv_means(face: np.ndarray) -> tuple[float, float]:
    """(mean hue, mean value) of a face in OpenCV's HSV."""
    hsv = cv2.cvtColor(face, cv2.COLOR_BGR2HSV)
    return float(hsv[..., 0].mean()), float(hsv[..., 2].mean())


def black_count(face: np.ndarray) -> int:
    """Number of zero-valued pixel elements (black borders of faces cut by the frame edge)."""
    return int((face == 0).sum())


def thumbnail(face: np.ndarray, side: int = 32) -> np.ndarray:
    """Small float copy used for the pairwise absolute differences."""
    return cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()


def absdiff_matrix(thumbs: np.ndarray, chunk: int = 64) -> np.ndarray:
    """N x N sums of absolute differences of thumbnails (N x D)."""
    n = len(thumbs)
    out = np.empty((n, n), np.float64)
    for i in range(0, n, chunk):
        out[i:i + chunk] = np.abs(thumbs[i:i + chunk, None, :] - thumbs[None, :, :]).sum(-1)
    return out


def greedy_chain(dist: np.ndarray, nearest: bool = True) -> list[int]:
    """Order starting at item 0, each next item the nearest (or farthest) of those left."""
    n = len(dist)
    if n == 0:
        return []
    left = np.ones(n, bool)
    order = [0]
    left[0] = False
    for _ in range(n - 1):
        row = np.where(left, dist[order[-1]], np.inf if nearest else -np.inf)
        nxt = int(np.argmin(row) if nearest else np.argmax(row))
        order.append(nxt)
        left[nxt] = False
    return order
