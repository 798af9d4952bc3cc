"""Mediapipe's FaceMesh (468 3-D points, Apache-2.0) run on ONNX Runtime on a rotation-aligned square crop.

As mediapipe does, the crop is centred on the face, rotated so the eyes are level and 1.5x the face size;
the model sees it at 192x192 RGB in [0, 1]. Points come back in frame pixels (z in the same pixel scale,
positive away from the camera).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engine.faces import packaged_models
from engine.faces.runtime import session

SIZE = 192
# mesh points used to set the crop of the next pass: the outer eye corners give the roll (mediapipe's 33, 263)
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263


CANONICAL_FILE = Path(__file__).with_name("canonical_face.json")


@functools.lru_cache(maxsize=1)
def canonical_face() -> np.ndarray:
    """Mediapipe's canonical face model (468x3, cm; x to the image right, y up, z towards the camera)."""
    v = np.asarray(json.loads(CANONICAL_FILE.read_text())["vertices"], np.float64)
    if v.shape != (468, 3):
        raise ValueError(f"{CANONICAL_FILE}: expected 468x3 vertices")
    return v


@functools.lru_cache(maxsize=1)
def mirror_index() -> np.ndarray:
    """For each mesh vertex, the vertex at its mirror position (the canonical face is exactly symmetric)."""
    v = canonical_face()
    d = np.linalg.norm(v[:, None] - (v * [-1.0, 1.0, 1.0])[None], axis=2)
    return d.argmin(1)


@dataclass
class Crop:
    """A square crop of the frame: centre (x, y), side in frame pixels and roll angle (radians)."""

    center: np.ndarray
    side: float
    angle: float

    def matrix(self, size: int = SIZE) -> np.ndarray:
        """2x3 affine from frame pixels to crop pixels."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        k = size / self.side
        rot = np.array([[c, s], [-s, c]]) * k
        t = size / 2 - rot @ self.center
        return np.hstack([rot, t[:, None]])

    def shifted(self, dx: float, dy: float) -> Crop:
        """The same crop moved by (dx, dy) crop-pixels at 192 px (DFL-style jitter)."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        k = self.side / SIZE
        off = np.array([c * dx - s * dy, s * dx + c * dy]) * k
        return Crop(self.center + off, self.side, self.angle)


def roll_angle(eyes: np.ndarray, mouth: np.ndarray) -> float:
    """Roll of a face (radians, 0 = upright) from its eyes (right eye first) and mouth centre.

    The eye line alone is ambiguous when a detector swaps the eyes (upside-down or profile faces); the
    mouth-to-eyes axis is not, so it decides the direction and the eye line refines it when they agree.
    """
    up = eyes.mean(0) - mouth
    axis = np.array([-up[1], up[0]]) / max(np.linalg.norm(up), 1e-9)  # image x-axis of the face, from "up"
    line = (eyes[1] - eyes[0]) / max(np.linalg.norm(eyes[1] - eyes[0]), 1e-9)
    d = axis + line if np.dot(axis, line) > 0.5 else axis
    return float(np.arctan2(d[1], d[0]))


def crop_from_keypoints(rect: np.ndarray, eyes: np.ndarray, mouth: np.ndarray, scale: float = 1.5,
                        shift: float = 0.0) -> Crop:
    """Crop from a detector box and keypoints: ``scale`` x the box side, centred ``shift`` box sides below
    the box centre (along the face's down direction), rotated by the face's roll."""
    angle = roll_angle(eyes, mouth)
    box = float(max(rect[2] - rect[0], rect[3] - rect[1]))
    down = np.array([-np.sin(angle), np.cos(angle)])
    center = (rect[:2] + rect[2:]) / 2 + shift * box * down
    return Crop(center.astype(np.float64), box * scale, angle)


def crop_from_mesh(points: np.ndarray, scale: float = 1.5) -> Crop:
    """Crop from a previous mesh (mediapipe's landmarks-to-ROI, with the box taken in the rotated frame)."""
    p = points[:, :2]
    d = p[LEFT_EYE_OUTER] - p[RIGHT_EYE_OUTER]
    angle = float(np.arctan2(d[1], d[0]))
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, s], [-s, c]])
    q = p @ rot.T
    lo, hi = q.min(0), q.max(0)
    center = rot.T @ ((lo + hi) / 2)
    side = float((hi - lo).max()) * scale
    return Crop(center, side, angle)


class FaceMesh:
    """The 468-point landmark model; ``run`` takes crops of one frame, returns points and presence scores."""

    name = "facemesh468"

    def __init__(self, providers: list[str] | str | None = None):
        self.session = session(packaged_models.model_path("face_landmark"), providers)
        self.input = self.session.get_inputs()[0].name

    def run(self, image: np.ndarray, crops: list[Crop], flip: bool = False) -> tuple[list[np.ndarray], list[float]]:
        """468x3 frame-pixel points and face presence (0..1) for each crop of a BGR uint8 ``image``.

        ``flip``: also run each crop mirrored and average the two (test-time augmentation; the mirrored
        result is mapped back through the mesh's symmetry).
        """
        pts_out, scores = [], []
        for crop in crops:
            mat = crop.matrix()
            patch = cv2.warpAffine(image, mat, (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            p, presence = self._infer(patch)
            if flip:
                q, presence_f = self._infer(np.ascontiguousarray(patch[:, ::-1]))
                q = q[mirror_index()]
                q[:, 0] = SIZE - q[:, 0]
                p, presence = (p + q) / 2, (presence + presence_f) / 2
            inv = cv2.invertAffineTransform(mat)
            xy = p[:, :2] @ inv[:, :2].T + inv[:, 2]
            z = p[:, 2:] * crop.side / SIZE
            pts_out.append(np.hstack([xy, z]))
            scores.append(presence)
        return pts_out, scores

    def _infer(self, patch: np.ndarray) -> tuple[np.ndarray, float]:
        """468x3 points in crop pixels and the presence probability for one 192x192 BGR patch."""
        x = (patch[..., ::-1].astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        raw, presence = self.session.run(None, {self.input: np.ascontiguousarray(x)})
        return raw.reshape(468, 3).astype(np.float64), float(1.0 / (1.0 + np.exp(-float(presence.ravel()[0]))))
