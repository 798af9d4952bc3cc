"""Head pose (pitch, yaw, roll) from 68 iBUG landmarks, as DeepFaceLab's sorter and "best faces" use it.

``cv2.solvePnP`` fits a 3-D mean face to the landmarks. Unlike DFL (focal length = image size), the camera
is nearly orthographic (focal length 10x the image size), so the pose describes how the face looks, not
where it sits in the frame: the same face gives the same pose in a frame and in any aligned crop.
The 3-D face is mediapipe's canonical face model (the FaceMesh's own mean geometry, Apache-2.0,
``canonical_face.json``) taken through the same mesh -> iBUG index map that our landmarks come from
(:mod:`engine.faces.meanface`), so 2-D and 3-D points correspond by construction. Only the rigid points
are used: brows, nose, eyes and the mouth corners (17..48, 54). The jaw is left out because iBUG's jaw
follows the silhouette, which moves over the 3-D surface as the head turns. Pitch 0 is the canonical
model's frontal pose; faces looking straight into a camera measure about -10° (slightly down) in it.

Signs (radians): yaw > 0 when the face turns towards the image's right, pitch > 0 when it looks up,
roll > 0 when it tilts clockwise in the image. Each is clipped to ±π/2 as DFL does.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.faces.meanface import camera, mean_face_3d

POSE_POINTS = [*range(17, 49), 54]


def head_pose(landmarks68: np.ndarray, image_size: int | tuple[int, int]) -> tuple[float, float, float]:
    """(pitch, yaw, roll) in radians of a face from its 68 landmarks in an image of ``image_size``
    (side, or (height, width)); aligned faces pass their aligned landmarks and side."""
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    pts = np.ascontiguousarray(np.asarray(landmarks68, np.float64)[POSE_POINTS])
    obj = np.ascontiguousarray(mean_face_3d()[POSE_POINTS])
    cam = camera((h, w))
    scale = np.linalg.norm(pts[19] - pts[28]) / np.linalg.norm(obj[19, :2] - obj[28, :2])  # eye corners 36, 45
    tvec = np.array([[0.0], [0.0], [cam[0, 0] / max(scale, 1e-6)]])
    tvec[:2, 0] = (pts.mean(0) - cam[:2, 2]) * tvec[2, 0] / cam[0, 0]
    ok, rvec, _ = cv2.solvePnP(obj, pts, cam, np.zeros(4), np.zeros((3, 1)), tvec, True, cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        return 0.0, 0.0, 0.0
    rot, _ = cv2.Rodrigues(rvec)
    # rot maps face axes to camera axes; decompose as R = Rz(roll) @ Ry(yaw) @ Rx(pitch)
    yaw = float(np.arcsin(np.clip(-rot[2, 0], -1.0, 1.0)))
    pitch = float(np.arctan2(rot[2, 1], rot[2, 2]))
    roll = float(np.arctan2(rot[1, 0], rot[0, 0]))
    lim = np.pi / 2
    # camera y points down: a face looking up rotates about x by a negative angle in camera axes
    return float(np.clip(-pitch, -lim, lim)), float(np.clip(-yaw, -lim, lim)), float(np.clip(roll, -lim, lim))
