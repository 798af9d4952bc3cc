"""Debug drawings of an extraction (DeepFaceLab's aligned_debug): each frame with the detector box, the 68
landmarks over a darkened landmark hull, and the aligned crop's outline with a marker on its top edge."""

from __future__ import annotations

import cv2
import numpy as np

from engine.faces.align import transform_points
from engine.faces.masks import hull_mask

BLUE, GREEN, RED = (255, 0, 0), (0, 255, 0), (0, 0, 255)
_PARTS = [range(0, 17), range(17, 22), range(22, 27), range(27, 31), range(30, 36), range(36, 42), range(42, 48),
          range(48, 60), range(60, 68)]
_CLOSED = {5, 6, 7, 8}


def draw_landmarks(image: np.ndarray, landmarks: np.ndarray, color: tuple[int, int, int] = GREEN) -> None:
    """Green landmark polylines with small dots (jaw dots larger), drawn in place."""
    pts = np.round(np.asarray(landmarks)).astype(np.int32)
    for k, part in enumerate(_PARTS):
        poly = pts[list(part)]
        if k == 4:  # nose base: close the nostril line back to the tip's row
            poly = np.vstack([pts[30], pts[31:36], pts[30]])
        cv2.polylines(image, [poly], k in _CLOSED, color, 1, cv2.LINE_AA)
    for i, (x, y) in enumerate(pts):
        cv2.circle(image, (int(x), int(y)), 2 if i < 17 else 1, color, -1, cv2.LINE_AA)


def draw_face(image: np.ndarray, rect: np.ndarray, landmarks: np.ndarray, mat: np.ndarray, size: int) -> None:
    """Hull darkened 50%, landmarks, detector box (blue) and the aligned square (red) with its "up" marker."""
    h, w = image.shape[:2]
    hull = hull_mask(landmarks, (h, w))[..., None]
    image[:] = (image * (1.0 - 0.5 * hull)).astype(np.uint8)
    draw_landmarks(image, landmarks)
    l, t, r, b = np.round(rect).astype(int)
    cv2.rectangle(image, (l, t), (r, b), BLUE, 2)
    corners = transform_points(np.array([[0, 0], [size, 0], [size, size], [0, size]], float), mat, invert=True)
    cv2.polylines(image, [np.round(corners).astype(np.int32)], True, RED, 2, cv2.LINE_AA)
    # "up" marker: a small triangle on the middle of the top edge, pointing away from the face
    top = transform_points(np.array([[size * 0.45, 0], [size * 0.55, 0], [size * 0.5, -size * 0.06]]), mat, invert=True)
    cv2.fillPoly(image, [np.round(top).astype(np.int32)], RED, cv2.LINE_AA)


def debug_image(image: np.ndarray, faces: list[tuple[np.ndarray, np.ndarray, np.ndarray]], size: int) -> np.ndarray:
    """A copy of a BGR uint8 frame with every face drawn; ``faces`` holds (rect, landmarks68, 2x3 mat)."""
    out = image.copy()
    for rect, landmarks, mat in faces:
        draw_face(out, rect, landmarks, mat, size)
    return out
