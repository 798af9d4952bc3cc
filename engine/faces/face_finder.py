"""Finding faces and their 68 landmarks in one frame: detection (RetinaFace, BlazeFace when it finds nothing,
the frame rotated 90°/270°/180° as DFL when nothing is found upright), FaceMesh on a crop levelled by the
detector's keypoints, DFL's second pass (re-crop from the first mesh; the crop and its mirror image averaged,
optionally more jittered crops), mesh -> iBUG-68 (:mod:`engine.faces.ibug68`), and for true profiles, which
the mesh rejects, the posed 3-D mean face (:mod:`engine.faces.meanface`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.errors import FacecompError
from engine.faces.detect import BlazeFace, Detection, RetinaFace, iou
from engine.faces.ibug68 import mesh_to_ibug
from engine.faces.meanface import fit_keypoints
from engine.faces.mesh import Crop, FaceMesh, crop_from_keypoints, crop_from_mesh

PRESENCE = 0.75  # FaceMesh face-presence score (after the second pass) below which a detection is dropped
SURE = 0.9  # presence above which the first crop's orientation is trusted (real faces: mostly > 0.95)
# second-pass crops: the re-centred crop, then optional shifts (192-px units) as DFL's jittered re-runs
JITTER = ((0.0, 0.0), (1.5, 1.5), (-1.5, -1.5), (1.5, -1.5), (-1.5, 1.5))
PROFILE_SCORE, PROFILE_MIN_SIDE, PROFILE_PENALTY = 0.9, 40, 0.5  # mean-face fallback: detector score, box px
ROLL_CHECK = 45.0  # degrees of detector roll beyond which the other quarter turns of the crop are tried
# frame -> rotated frame for DFL's retries (cv2.rotate code) and the order DFL tries them in
ROTATIONS = ((90, cv2.ROTATE_90_CLOCKWISE), (270, cv2.ROTATE_90_COUNTERCLOCKWISE), (180, cv2.ROTATE_180))


@dataclass
class DetectedFace:
    """One face: detector box [l, t, r, b], 68 iBUG points and the 468x3 mesh, all in frame pixels."""

    rect: np.ndarray
    landmarks: np.ndarray
    score: float
    mesh: np.ndarray | None = None
    detector: str = ""
    rotation: int = 0
    landmarker: str = "facemesh468+ibug68"

    @property
    def area(self) -> float:
        l, t, r, b = self.rect
        return float(max(r - l, 0) * max(b - t, 0))


def _unrotate(points: np.ndarray, rotation: int, w: int, h: int) -> np.ndarray:
    """Map Nx2 points of the frame rotated by ``rotation`` (clockwise degrees) back to the ``w`` x ``h`` frame."""
    p = np.asarray(points, np.float64)
    x, y = p[:, 0], p[:, 1]
    if rotation == 90:  # rotated (x', y') = (h-1-y, x)
        return np.stack([y, h - 1 - x], 1)
    if rotation == 270:  # rotated (x', y') = (y, w-1-x)
        return np.stack([w - 1 - y, x], 1)
    if rotation == 180:
        return np.stack([w - 1 - x, h - 1 - y], 1)
    return p


def _unrotate_detection(d: Detection, rotation: int, w: int, h: int) -> Detection:
    l, t, r, b = d.rect
    corners = _unrotate(np.array([[l, t], [r, t], [r, b], [l, b]]), rotation, w, h)
    rect = np.concatenate([corners.min(0), corners.max(0)])
    return Detection(rect, d.score, _unrotate(d.eyes, rotation, w, h), _unrotate(d.mouth[None], rotation, w, h)[0],
                     _unrotate(d.points, rotation, w, h), d.source, d.crop_scale, d.crop_shift)


class FaceExtractor:
    """Loads the ONNX models once; finds faces and their 68 landmarks in BGR uint8 frames."""

    def __init__(self, providers: list[str] | str | None = None, max_faces: int = 0, second_pass: bool = True,
                 jitter: int = 1, flip: bool = True, min_score: float = PRESENCE, corrected: bool = True):
        self.blaze = BlazeFace(providers)
        self.retina = RetinaFace(providers)
        self.mesh = FaceMesh(providers)
        self.max_faces = max_faces
        self.second_pass = second_pass
        self.jitter = max(1, min(jitter, len(JITTER)))
        self.flip = flip
        self.min_score = min_score
        self.corrected = corrected

    def _boxes(self, image: np.ndarray) -> list[Detection]:
        """RetinaFace first; BlazeFace (whole frame and tiles) only when it finds nothing."""
        return self.retina.detect(image) or self.blaze.detect(image)

    def find(self, image: np.ndarray, rotation: int = 0) -> list[Detection]:
        """Detector boxes in frame pixels, the detectors run on the frame rotated clockwise by ``rotation``."""
        if rotation == 0:
            return self._boxes(image)
        h, w = image.shape[:2]
        code = dict(ROTATIONS)[rotation]
        return [_unrotate_detection(d, rotation, w, h) for d in self._boxes(cv2.rotate(image, code))]

    def _first_pass(self, image: np.ndarray, crop: Crop) -> tuple[np.ndarray, float]:
        """The mesh on ``crop``. Detector keypoints are unreliable on strongly rolled faces, so beyond
        ROLL_CHECK, or when the mesh is unsure, the three other quarter turns of the crop are tried too and
        the most confident one wins."""
        (mesh,), (score,) = self.mesh.run(image, [crop])
        roll = abs(np.degrees(np.arctan2(np.sin(crop.angle), np.cos(crop.angle))))
        if roll > ROLL_CHECK or score < SURE:
            turns = [Crop(crop.center, crop.side, crop.angle + k * np.pi / 2) for k in (1, -1, 2)]
            meshes, scores = self.mesh.run(image, turns)
            best = int(np.argmax(scores))
            if scores[best] > score and scores[best] >= SURE:  # a turned crop must be convincing (animals...)
                mesh, score = meshes[best], scores[best]
        return mesh, score

    def _mesh(self, image: np.ndarray, crop: Crop) -> tuple[np.ndarray, float]:
        """Pass 1 on ``crop``; second pass: re-crop from its mesh and average the runs on that crop, its
        mirror image (``flip``) and ``jitter - 1`` shifted copies (DFL's jittered re-runs)."""
        mesh, score = self._first_pass(image, crop)
        if not self.second_pass or score < self.min_score:
            return mesh, score
        base = crop_from_mesh(mesh)
        crops = [base.shifted(dx, dy) for dx, dy in JITTER[: self.jitter]]
        meshes, scores = self.mesh.run(image, crops, flip=self.flip)
        return np.mean(meshes, axis=0), float(np.mean(scores))

    def _face(self, image: np.ndarray, rect: np.ndarray, crop: Crop, det_score: float, source: str) -> DetectedFace:
        mesh, presence = self._mesh(image, crop)
        landmarks = mesh_to_ibug(mesh, self.corrected)
        return DetectedFace(np.asarray(rect, np.float64), landmarks, presence * det_score, mesh, source)

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        """All faces of a frame, largest first, ``max_faces`` kept. As DFL, when no face is found upright the
        frame is tried rotated by 90°, 270° and 180° (a face counts once the mesh confirms it)."""
        image = _as_uint8(image)
        faces: list[DetectedFace] = []
        for rotation in (0, *(r for r, _ in ROTATIONS)):
            for d in self.find(image, rotation):
                crop = crop_from_keypoints(d.rect, d.eyes, d.mouth, d.crop_scale, d.crop_shift)
                face: DetectedFace | None = self._face(image, d.rect, crop, d.score, d.source)
                if face is not None and face.score < self.min_score * d.score:
                    face = self._profile(image, d)
                if face is not None:
                    face.rotation = rotation
                    faces.append(face)
            if faces:
                break
        faces = _dedupe(faces)
        faces.sort(key=lambda f: -f.area)
        return faces[: self.max_faces] if self.max_faces > 0 else faces

    def _profile(self, image: np.ndarray, d: Detection) -> DetectedFace | None:
        """Fallback for a confident RetinaFace box the mesh rejects (true profiles): the posed mean face."""
        if d.points.shape != (5, 2) or d.score < PROFILE_SCORE or d.size < PROFILE_MIN_SIDE:
            return None
        fit = fit_keypoints(d.points, image.shape[:2])
        if fit is None:
            return None
        landmarks, _yaw, _err = fit
        return DetectedFace(np.asarray(d.rect, np.float64), landmarks, d.score * PROFILE_PENALTY, None, d.source,
                            landmarker="meanface3d+retinaface5")

    def landmarks_from_rect(self, image: np.ndarray, rect: np.ndarray) -> DetectedFace:
        """Landmarks for a given face box (manual re-extraction); the roll comes from a first mesh pass."""
        image = _as_uint8(image)
        rect = np.asarray(rect, np.float64)
        crop = Crop((rect[:2] + rect[2:]) / 2, float(max(rect[2] - rect[0], rect[3] - rect[1])) * 1.5, 0.0)
        return self._face(image, rect, crop, 1.0, "manual_rect")

    def refine(self, image: np.ndarray, landmarks68: np.ndarray) -> DetectedFace:
        """DFL's second pass from given 68 landmarks: crop around them (eyes levelled), re-run the mesh."""
        image = _as_uint8(image)
        lm = np.asarray(landmarks68, np.float64)
        eyes = np.array([lm[36:42].mean(0), lm[42:48].mean(0)])
        rect = np.concatenate([lm.min(0), lm.max(0)])
        crop = crop_from_keypoints(rect, eyes, lm[48:68].mean(0), 1.5 * 1.1)
        face = self._face(image, rect, crop, 1.0, "manual_landmarks")
        return face


def _as_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8:
        raise FacecompError("face detection needs an 8-bit BGR image (convert float frames with to_model_space)")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(image[..., :3]) if image.shape[2] == 4 else image


def _dedupe(faces: list[DetectedFace]) -> list[DetectedFace]:
    """Two detections of one face give nearly the same landmarks: keep the better-scored one."""
    faces = sorted(faces, key=lambda f: -f.score)
    out: list[DetectedFace] = []
    for f in faces:
        box = np.concatenate([f.landmarks.min(0), f.landmarks.max(0)])
        if all(iou(box, np.concatenate([g.landmarks.min(0), g.landmarks.max(0)])[None])[0] < 0.5 for g in out):
            out.append(f)
    return out
