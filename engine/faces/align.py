"""Alignment of a face from its 68 landmarks (DeepFaceLab's geometry, dfl.md §1).

A similarity transform (Umeyama) maps landmarks 17..48 and 54 onto a mean face in the unit square;
the face type then sets the padding (and, for whole_face/head, a vertical shift) of the square crop.
"""

from __future__ import annotations

import numpy as np

from engine.faces.facetype import FaceType

# Mean face in the unit square for landmarks 17..48 and 54 (DFL's landmarks_2D_new).
MEAN_FACE = np.array([
    [0.000213, 0.106454], [0.075262, 0.038915], [0.18113, 0.018748], [0.29077, 0.034489], [0.393397, 0.077391],
    [0.586856, 0.077391], [0.689483, 0.034489], [0.799124, 0.018748], [0.904991, 0.038915], [0.98004, 0.106454],
    [0.490127, 0.203352], [0.490127, 0.307009], [0.490127, 0.409805], [0.490127, 0.515625], [0.36688, 0.587326],
    [0.426036, 0.609345], [0.490127, 0.628106], [0.554217, 0.609345], [0.613373, 0.587326], [0.121737, 0.216423],
    [0.187122, 0.178758], [0.265825, 0.179852], [0.334606, 0.231733], [0.260918, 0.245099], [0.182743, 0.244077],
    [0.645647, 0.231733], [0.714428, 0.179852], [0.793132, 0.178758], [0.858516, 0.216423], [0.79751, 0.244077],
    [0.719335, 0.245099], [0.254149, 0.780233], [0.726104, 0.780233],
], dtype=np.float64)
ALIGN_POINTS = [*range(17, 49), 54]


def umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """3x3 least-squares similarity transform (rotation, uniform scale, translation) taking ``src`` to ``dst``.

    >>> a = np.array([[0, 0], [1, 0], [0, 1]], float)
    >>> np.allclose(umeyama(a, 2 * a + 3)[:2], [[2, 0, 3], [0, 2, 3]])
    True
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    n = src.shape[0]
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / n
    u, sig, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(cov) < 0:
        sign[-1] = -1
    rot = u @ np.diag(sign) @ vt
    var_s = (s**2).sum() / n
    scale = (sig * sign).sum() / var_s if var_s > 0 else 1.0
    m = np.eye(3)
    m[:2, :2] = scale * rot
    m[:2, 2] = mu_d - scale * rot @ mu_s
    return m


def _transform(points: np.ndarray, mat: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, np.float64)
    return pts @ mat[:2, :2].T + mat[:2, 2]


def transform_points(points: np.ndarray, mat: np.ndarray, invert: bool = False) -> np.ndarray:
    """Apply a 2x3 (or 3x3) affine to Nx2 points, or its inverse."""
    m = np.vstack([np.asarray(mat, np.float64)[:2], [0, 0, 1]])
    if invert:
        m = np.linalg.inv(m)
    return _transform(points, m)


def averaged_yaw(unit_landmarks: np.ndarray) -> float:
    """DFL's yaw estimate from landmarks in the unit square (right minus left cheek widths)."""
    p = unit_landmarks
    left = np.mean([p[27, 0] - p[0, 0], p[28, 0] - p[1, 0], p[29, 0] - p[2, 0]])
    right = np.mean([p[16, 0] - p[27, 0], p[15, 0] - p[28, 0], p[14, 0] - p[29, 0]])
    return float(right - left)


def transform_mat(landmarks: np.ndarray, size: int, face_type: FaceType | str, scale: float = 1.0) -> np.ndarray:
    """2x3 affine from frame pixels to an aligned ``size`` x ``size`` face of ``face_type`` (DFL's geometry)."""
    ft = FaceType.parse(face_type)
    lm = np.asarray(landmarks, np.float64)
    m = umeyama(lm[ALIGN_POINTS], MEAN_FACE)
    inv = np.linalg.inv(m)
    g0, g1, g2, g3, c = _transform(np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5]], float), inv)
    d1 = (g2 - g0) / np.linalg.norm(g2 - g0)
    d2 = (g1 - g3) / np.linalg.norm(g1 - g3)
    h = np.linalg.norm(g0 - g2) * (ft.padding * np.sqrt(2.0) + 0.5) / scale
    if ft == FaceType.WHOLE_FACE:
        c = c + 0.07 * (g0 - g3)
    elif ft in (FaceType.HEAD, FaceType.HEAD_NO_ALIGN):
        yaw = averaged_yaw(_transform(lm, m))
        yaw *= abs(np.tanh(yaw * 2.0))
        c = c - (g0 - g1) / np.linalg.norm(g0 - g1) * yaw * np.linalg.norm(g0 - g1) / 2.0
        c = c + 0.5 * (g0 - g3)
    if ft.remove_align:
        corners = np.array([c - h * d1, c + h * d2, c + h * d1, c - h * d2])
        x, y = corners[:, 0], corners[:, 1]
        area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
        side = np.sqrt(area) / 2.0
        src = np.array([c + [-side, -side], c + [side, -side], c + [side, side]], np.float32)
    else:
        src = np.array([c - h * d1, c + h * d2, c + h * d1], np.float32)
    dst = np.array([[0, 0], [size, 0], [size, size]], np.float32)
    import cv2

    return cv2.getAffineTransform(src, dst).astype(np.float64)


def warp_face(image: np.ndarray, mat: np.ndarray, size: int, interpolation: int | None = None) -> np.ndarray:
    """Warp a frame into the aligned face square (Lanczos by default, as DFL's extractor)."""
    import cv2

    flags = cv2.INTER_LANCZOS4 if interpolation is None else interpolation
    return cv2.warpAffine(image, mat, (size, size), flags=flags, borderMode=cv2.BORDER_REPLICATE)
