"""The geometric ("generic") XSeg mask: no model, no labels, from the face's 68 landmarks; instant.

whole_face / head: the jaw line (points 0..16) closed over the forehead by a superellipse arc (flatter than an
ellipse, like a hairline) through both jaw ends and a hairline point above the brows (brow centre + ``forehead``
x brow-to-nose-base distance along the face's vertical axis), united with DFL's landmark hull with the brows
lifted (``eyebrows_expand_mod``).
head adds a wider arc for the skull. full / mid-full / half faces: DFL's landmark hull alone.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.faces.facetype import FaceType
from engine.faces.masks import hull_mask

FOREHEAD = 0.9  # hairline height above the brow centre, in brow-to-nose-base lengths
SQUARENESS = 2.5  # superellipse exponent of the forehead arc (2 = ellipse; larger = flatter top, fuller temples)
HEAD_FOREHEAD = 1.6


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-9 else np.array([0.0, -1.0])


def face_outline(landmarks: np.ndarray, face_type: FaceType | str = FaceType.WHOLE_FACE,
                 forehead: float | None = None, arc_points: int = 32, squareness: float = SQUARENESS) -> np.ndarray:
    """Closed outline (Nx2): jaw 0..16 then the forehead arc from 16 back to 0."""
    p = np.asarray(landmarks, np.float64)
    ft = FaceType.parse(face_type)
    k = forehead if forehead is not None else (HEAD_FOREHEAD if ft >= FaceType.HEAD else FOREHEAD)
    up = _unit(p[27] - p[8])
    brow = (p[19] + p[24]) / 2.0
    apex = brow + up * k * float(np.linalg.norm(brow - p[33]))
    c = (p[0] + p[16]) / 2.0
    a, b = p[16] - c, apex - c
    if ft >= FaceType.HEAD:
        a = a * 1.15
    t = np.linspace(0.0, np.pi, arc_points)[1:-1]
    e = 2.0 / squareness
    cos, sin = np.cos(t), np.sin(t)
    arc = c + (np.sign(cos) * np.abs(cos) ** e)[:, None] * a + (np.abs(sin) ** e)[:, None] * b
    return np.concatenate([p[0:17], arc])


def generic_mask(landmarks: np.ndarray, size: int, face_type: FaceType | str = FaceType.WHOLE_FACE,
                 eyebrows_expand_mod: float = 1.0, forehead: float | None = None,
                 squareness: float = SQUARENESS) -> np.ndarray:
    """float32 size x size mask in 0..1 (anti-aliased edge) of the face in aligned-face pixels."""
    ft = FaceType.parse(face_type)
    hull = hull_mask(landmarks, size, eyebrows_expand_mod)
    if ft < FaceType.WHOLE_FACE:
        return hull
    mask = np.zeros((size, size), np.float32)
    pts = np.round(face_outline(landmarks, ft, forehead, squareness=squareness) * 16).astype(np.int32)
    cv2.fillPoly(mask, [pts.reshape(-1, 1, 2)], 1.0, lineType=cv2.LINE_AA, shift=4)
    return np.maximum(mask, hull)
