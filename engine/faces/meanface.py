"""The 3-D mean face (mediapipe's canonical face model through the iBUG index map) and a fallback that poses it
on a detector's 5 keypoints.

FaceMesh gives up on true profiles (its presence score drops to ~0 beyond ~75° of yaw), where DFL's FAN
still returns rough landmarks. For such faces the mean face is fitted (``cv2.solvePnP``, near-orthographic
camera) to RetinaFace's eyes, nose tip and mouth corners and its 68 points projected: coarse, but enough to
align and crop a profile face. Only accepted when the fit is good and says the head is turned.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from engine.faces.ibug68 import MAP
from engine.faces.mesh import canonical_face

RIGHT_EYE = [33, 160, 158, 133, 153, 144]  # mesh vertices around the subject's right eye (iBUG 36-41)
LEFT_EYE = [362, 385, 387, 263, 373, 380]
NOSE_TIP, MOUTH_RIGHT, MOUTH_LEFT = 4, 61, 291
MIN_YAW = np.radians(45)  # a fit nearer to frontal is not trusted (the mesh would have found such a face)
MAX_ERROR = 0.1  # mean keypoint reprojection error, as a fraction of the eyes-to-mouth distance


@functools.lru_cache(maxsize=1)
def canonical_camera_axes() -> np.ndarray:
    """The 468 canonical vertices in OpenCV camera axes (x right, y down, z away from the camera), cm."""
    return canonical_face() * [1.0, -1.0, -1.0]


@functools.lru_cache(maxsize=1)
def mean_face_3d() -> np.ndarray:
    """68x3 iBUG mean face in OpenCV camera axes, cm."""
    return MAP @ canonical_camera_axes()


@functools.lru_cache(maxsize=1)
def keypoints_3d() -> np.ndarray:
    """The 5 RetinaFace keypoints on the mean face: eyes (image-left first), nose tip, mouth corners."""
    v = canonical_camera_axes()
    return np.array([v[RIGHT_EYE].mean(0), v[LEFT_EYE].mean(0), v[NOSE_TIP], v[MOUTH_RIGHT], v[MOUTH_LEFT]])


def camera(shape: tuple[int, int], focal_factor: float = 10.0) -> np.ndarray:
    """Intrinsics with the principal point at the image centre; a long focal length ~ orthographic."""
    h, w = shape
    f = focal_factor * max(h, w)
    return np.array([[f, 0, w / 2.0], [0, f, h / 2.0], [0, 0, 1]], np.float64)


def fit_keypoints(points5: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, float, float] | None:
    """68x2 landmarks of the mean face posed on 5 keypoints, with the fitted yaw (radians) and the relative
    reprojection error; None when no good turned-head fit exists."""
    pts = np.asarray(points5, np.float64)
    obj = keypoints_3d()
    cam = camera(shape)
    size = float(np.linalg.norm(pts[:2].mean(0) - pts[3:5].mean(0)))
    if size < 1.0:
        return None
    scale = size / float(np.linalg.norm(obj[:2].mean(0) - obj[3:5].mean(0)))
    tz = cam[0, 0] / scale
    c = pts.mean(0)
    t0 = np.array([(c[0] - cam[0, 2]) * tz / cam[0, 0], (c[1] - cam[1, 2]) * tz / cam[0, 0], tz])
    best = None
    for yaw0 in (-1.2, -0.6, 0.0, 0.6, 1.2):  # several starts: the 5-point problem has local minima
        ok, rvec, tvec = cv2.solvePnP(obj, pts, cam, np.zeros(4), np.array([[0.0], [yaw0], [0.0]]),
                                      t0.reshape(3, 1).copy(), True, cv2.SOLVEPNP_ITERATIVE)
        if not ok:
            continue
        proj, _ = cv2.projectPoints(obj, rvec, tvec, cam, np.zeros(4))
        err = float(np.linalg.norm(proj[:, 0] - pts, axis=1).mean()) / size
        if best is None or err < best[0]:
            best = (err, rvec, tvec)
    if best is None:
        return None
    err, rvec, tvec = best
    rot, _ = cv2.Rodrigues(rvec)
    yaw = float(np.arcsin(np.clip(-rot[2, 0], -1.0, 1.0)))
    if err > MAX_ERROR or abs(yaw) < MIN_YAW:
        return None
    proj, _ = cv2.projectPoints(mean_face_3d(), rvec, tvec, cam, np.zeros(4))
    return proj[:, 0].astype(np.float64), yaw, err


def mean_landmarks(face_type: str, size: int) -> np.ndarray:
    """68 landmarks of the frontal mean face inside a DFL-aligned crop of ``face_type`` and side ``size``
    (where an aligned face's landmarks lie when nothing else is known)."""
    from engine.faces.align import ALIGN_POINTS, MEAN_FACE, transform_mat, transform_points, umeyama

    frontal = mean_face_3d()[:, :2]
    unit = transform_points(frontal, umeyama(frontal[ALIGN_POINTS], MEAN_FACE))
    return transform_points(unit, transform_mat(unit, size, face_type))

