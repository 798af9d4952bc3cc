"""The measures `facecomp report` is built from, as plain functions on arrays.

* :func:`ssim` / :func:`psnr`: Wang et al.'s SSIM (11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, on each
  colour channel, averaged) and PSNR, both on 0..1 images and optionally weighted by a mask (face only).
* :func:`shape_distance`: landmark-shape distance of two 68-point sets after removing position, scale and
  rotation (Umeyama), as NME = mean point distance / outer-eye-corner distance, in percent.
* :func:`pose_error`: L2 distance of (pitch, yaw, roll) in degrees, the DFL paper's "pose error".
* :func:`still_pairs`: consecutive frames whose face barely moves (where any change of the face pass is flicker).
* :func:`landmark_jitter`: RMS second temporal difference of landmarks over runs of consecutive frames.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.faces.align import transform_points, umeyama

INNER = list(range(17, 68))  # brows, nose, eyes, mouth: the jaw of mesh-mapped landmarks is unreliable
MOUTH = list(range(48, 68))
STILL_MOTION = 0.01  # mean landmark motion per frame below 1 % of the face size: a "still" pair of frames


def _gauss(img: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(img, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM of two float images in 0..1 (HxW or HxWxC; channels averaged)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"ssim of images of different shapes {a.shape} / {b.shape}")
    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = _gauss(a), _gauss(b)
    var_a = _gauss(a * a) - mu_a**2
    var_b = _gauss(b * b) - mu_b**2
    cov = _gauss(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.mean(axis=2) if s.ndim == 3 else s


def _weights(mask: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    if mask is None:
        return None
    m = np.asarray(mask, np.float64)
    if m.ndim == 3:
        m = m[..., 0]
    if m.shape != shape[:2]:
        raise ValueError(f"mask {m.shape} does not match the image {shape[:2]}")
    return m if m.sum() > 0 else None


def ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean SSIM of two 0..1 images, weighted by ``mask`` (HxW 0..1) when given."""
    s = ssim_map(a, b)
    w = _weights(mask, s.shape)
    return float(s.mean() if w is None else (s * w).sum() / w.sum())


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR in dB of two 0..1 images (peak 1), over the ``mask`` pixels when given; capped at 100 dB."""
    d = (np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2
    if d.ndim == 3:
        d = d.mean(axis=2)
    w = _weights(mask, d.shape)
    mse = float(d.mean() if w is None else (d * w).sum() / w.sum())
    return 100.0 if mse <= 1e-10 else float(min(100.0, 10.0 * np.log10(1.0 / mse)))


def eye_distance(landmarks68: np.ndarray) -> float:
    """Distance between the outer eye corners (points 36 and 45), the usual NME normaliser."""
    lm = np.asarray(landmarks68, np.float64)
    return float(np.linalg.norm(lm[36] - lm[45]))


def shape_distance(landmarks: np.ndarray, reference: np.ndarray, points: list[int] | None = None) -> float:
    """NME (%) of ``landmarks`` against ``reference`` after a similarity fit on ``points`` (default INNER)."""
    idx = INNER if points is None else points
    a = np.asarray(landmarks, np.float64)[idx]
    b = np.asarray(reference, np.float64)[idx]
    mat = umeyama(a, b)
    fitted = transform_points(a, mat)
    return float(np.linalg.norm(fitted - b, axis=1).mean() / max(eye_distance(reference), 1e-6) * 100.0)


def pose_error(pose_a: np.ndarray, pose_b: np.ndarray) -> np.ndarray:
    """Per-row L2 distance of (pitch, yaw, roll) vectors in degrees (N x 3 each -> N)."""
    d = np.asarray(pose_a, np.float64) - np.asarray(pose_b, np.float64)
    return np.sqrt((d**2).sum(axis=-1))


def motion(landmarks: np.ndarray) -> np.ndarray:
    """Mean landmark motion between consecutive rows of a (T, 68, 2) track, as a fraction of the face size."""
    lm = np.asarray(landmarks, np.float64)
    if len(lm) < 2:
        return np.zeros(0)
    span = lm.max(axis=1) - lm.min(axis=1)
    size = np.hypot(span[:, 0], span[:, 1])
    step = np.linalg.norm(lm[1:] - lm[:-1], axis=2).mean(axis=1)
    return step / np.maximum(size[1:], 1e-6)


def still_pairs(numbers: list[int], landmarks: np.ndarray, threshold: float = STILL_MOTION) -> list[int]:
    """Indices i where frames i and i+1 are consecutive frame numbers and the face moved less than
    ``threshold`` x its size (on such pairs the face pass should hardly change)."""
    m = motion(landmarks)
    return [i for i in range(len(m)) if numbers[i + 1] == numbers[i] + 1 and m[i] < threshold]


def runs(numbers: list[int]) -> list[list[int]]:
    """Index runs of consecutive frame numbers: [1, 2, 3, 7, 8] -> [[0, 1, 2], [3, 4]]."""
    out: list[list[int]] = []
    for i, n in enumerate(numbers):
        if out and numbers[out[-1][-1]] == n - 1:
            out[-1].append(i)
        else:
            out.append([i])
    return out


def landmark_jitter(numbers: list[int], landmarks: np.ndarray, points: list[int] | None = None) -> float | None:
    """RMS second temporal difference (px/frame^2) of the landmarks, pooled over runs of >= 3 consecutive
    frames (D's :func:`engine.swap.smoothing.jitter` on each run); None when no run is long enough."""
    from engine.swap.smoothing import jitter

    lm = np.asarray(landmarks, np.float64)
    total, count = 0.0, 0
    for run in runs(numbers):
        if len(run) >= 3:
            n = len(run) - 2
            total += jitter(lm[run], points) ** 2 * n
            count += n
    return float(np.sqrt(total / count)) if count else None


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of rows of ``a`` (N x D) with the vector or rows ``b``."""
    a2 = np.atleast_2d(np.asarray(a, np.float64))
    b2 = np.asarray(b, np.float64)
    an = a2 / np.maximum(np.linalg.norm(a2, axis=1, keepdims=True), 1e-12)
    if b2.ndim == 1:
        return an @ (b2 / max(float(np.linalg.norm(b2)), 1e-12))
    bn = b2 / np.maximum(np.linalg.norm(b2, axis=1, keepdims=True), 1e-12)
    return (an * bn).sum(axis=1)


def mean_vector(rows: np.ndarray) -> np.ndarray:
    """Unit mean of unit vectors (the identity of a faceset)."""
    m = np.asarray(rows, np.float64).mean(axis=0)
    return m / max(float(np.linalg.norm(m)), 1e-12)
