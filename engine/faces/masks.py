"""Geometric face masks from 68 landmarks: the landmark hull (DFL's "dst" mask) and the eyes+mouth mask
used by eyes_mouth_prio. Masks are float32 HxW in 0..1.
"""

from __future__ import annotations

import cv2
import numpy as np

JAW = slice(0, 17)
BROW_R, BROW_L = slice(17, 22), slice(22, 27)
NOSE = slice(27, 36)
EYE_R, EYE_L = slice(36, 42), slice(42, 48)
MOUTH_INNER = slice(60, 68)


def expand_brows(landmarks: np.ndarray, amount: float = 1.0) -> np.ndarray:
    """Landmarks with the brows lifted away from the eyes by ``0.5 * amount`` of their distance to the upper lids.

    The brows are paired with points along the top of each eye (the outer pair extended toward the temple),
    so a whole-face hull reaches onto the forehead as DeepFaceLab's does.
    """
    p = np.asarray(landmarks, np.float64).copy()
    temple_r = p[36] + (p[0] - p[36]) * 0.25
    temple_l = p[45] + (p[16] - p[45]) * 0.25
    under_r = np.array([temple_r, p[36], p[37], p[38], p[39]])
    under_l = np.array([p[42], p[43], p[44], p[45], temple_l])
    p[BROW_R] += 0.5 * amount * (p[BROW_R] - under_r)
    p[BROW_L] += 0.5 * amount * (p[BROW_L] - under_l)
    return p


def hull_mask(landmarks: np.ndarray, size: int | tuple[int, int], eyebrows_expand_mod: float = 1.0) -> np.ndarray:
    """The landmark hull mask (jaw, cheeks, lifted brows, nose) at ``size`` (side or (h, w)).

    Drawn as the union of convex pieces, so a turned face keeps its concave outline.
    """
    h, w = (size, size) if isinstance(size, int) else size
    p = expand_brows(landmarks, eyebrows_expand_mod)
    chin = p[8:9]
    pieces = [
        np.concatenate([p[0:9], p[17:18]]),           # right jaw to outer right brow
        np.concatenate([p[8:17], p[26:27]]),          # left jaw to outer left brow
        np.concatenate([p[17:20], chin]),             # right cheek
        np.concatenate([p[24:27], chin]),             # left cheek
        np.concatenate([p[19:25], chin]),             # brows to chin through the nose ridge
        np.concatenate([p[17:22], p[27:28], p[31:36], chin]),
        np.concatenate([p[22:27], p[27:28], p[31:36], chin]),
        np.concatenate([p[27:31], p[31:36]]),
    ]
    mask = np.zeros((h, w), np.float32)
    for piece in pieces:
        cv2.fillConvexPoly(mask, cv2.convexHull(np.round(piece).astype(np.int32)), 1.0, lineType=cv2.LINE_AA)
    return np.clip(mask, 0.0, 1.0)


def _soft_hull(points: np.ndarray, h: int, w: int) -> np.ndarray:
    m = np.zeros((h, w), np.float32)
    cv2.fillConvexPoly(m, cv2.convexHull(np.round(points).astype(np.int32)), 1.0)
    k = max(1, h // 32)
    m = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    b = max(1, h // 16) | 1
    return cv2.GaussianBlur(m, (b, b), 0)


def eyes_mouth_mask(landmarks: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Soft mask of both eyes and the inner mouth (dilated by side/32, blurred by side/16), clipped to 0..1."""
    h, w = (size, size) if isinstance(size, int) else size
    p = np.asarray(landmarks, np.float64)
    m = _soft_hull(p[EYE_R], h, w) + _soft_hull(p[EYE_L], h, w) + _soft_hull(p[MOUTH_INNER], h, w)
    return np.clip(m, 0.0, 1.0)
