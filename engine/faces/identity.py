"""Face identity embeddings: dlib's ResNet face-recognition model (128-d, unit length) on aligned faces.

Weights: ``dlib_face_recognition_resnet_model_v1.dat`` from the pip package face-recognition-models 0.3.0
(run on dlib-bin 20.0.1, BSL-1.0). Licence: the dlib-models README (github.com/davisking/dlib-models) says
Davis King created these model files and, as far as he is concerned, released them into the public domain;
it describes this model as trained from scratch on about 3 million faces from the FaceScrub and VGG face
datasets plus images he collected from the internet (7485 identities). Unlike the 68-point landmark model
of the same package (iBUG 300-W, non-commercial; never used here), the README puts no restriction on it.
The terms of FaceScrub/VGG themselves are not stated there. The package's metadata licence is MIT.

The model wants a 150x150 chip aligned by dlib's own 5-landmark rule; we build that chip from our 68
landmarks (brows/eyes/nose/mouth positions, never dlib's 68-point predictor) with ``dlib.get_face_chip``.
dlib's raw descriptors have a norm of about 1.44 and dlib's same-person threshold is 0.6 on them; for our
unit vectors that is 0.42 (measured on images/lowres_identities, 5 people x 11 crops: same person at most
0.39, different people at least 0.46).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from engine.errors import FacecompError

MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"
SAME_PERSON = 0.42  # distance of unit embeddings below which two faces are one person (dlib's 0.6 / 1.44)


def _model_path() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")  # its __init__ needs pkg_resources: don't import
    if spec is None or not spec.submodule_search_locations:
        raise FacecompError("face identity needs the packages dlib-bin and face-recognition-models "
                            "(pip install dlib-bin==20.0.1.post1 face-recognition-models==0.3.0)")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / MODEL_FILE
    if not path.is_file():
        raise FacecompError("face recognition model missing from face-recognition-models", path)
    return path


class FaceEmbedder:
    """128-d unit identity vectors of aligned faces (BGR uint8 + their 68 aligned landmarks)."""

    name = "dlib_face_recognition_resnet_model_v1"
    licence = ("public domain per the dlib-models README (trained on FaceScrub, VGG Face and web images); "
               "package face-recognition-models 0.3.0 (MIT), runtime dlib-bin (BSL-1.0)")

    def __init__(self, jitter: int = 0):
        try:
            import dlib
        except ImportError:
            raise FacecompError("face identity needs the package dlib-bin (pip install dlib-bin==20.0.1.post1)") \
                from None
        self._dlib = dlib
        self.model = dlib.face_recognition_model_v1(str(_model_path()))
        self.jitter = jitter

    def chip(self, face_bgr: np.ndarray, landmarks68: np.ndarray) -> np.ndarray:
        """dlib's 150x150 RGB chip of a face, aligned from its 68 landmarks."""
        dlib = self._dlib
        rgb = np.ascontiguousarray(face_bgr[..., ::-1])
        lm = np.asarray(landmarks68, np.float64)
        l, t = lm.min(0)
        r, b = lm.max(0)
        rect = dlib.rectangle(int(l), int(t), int(r), int(b))
        shape = dlib.full_object_detection(rect, [dlib.point(int(round(x)), int(round(y))) for x, y in lm])
        return np.asarray(dlib.get_face_chip(rgb, shape, size=150, padding=0.25))

    def embed(self, face_bgr: np.ndarray, landmarks68: np.ndarray | None = None,
              face_type: str = "whole_face") -> np.ndarray:
        """Unit 128-d vector of one face. ``landmarks68``: the face's landmarks in ``face_bgr`` pixels; when
        None, ``face_bgr`` is taken to be a DFL-aligned face of ``face_type`` and the mean face's landmarks
        in such a crop are used."""
        if face_bgr.dtype != np.uint8 or face_bgr.ndim != 3:
            raise FacecompError("face identity needs an 8-bit BGR image")
        if landmarks68 is None:
            from engine.faces.meanface import mean_landmarks

            landmarks68 = mean_landmarks(face_type, face_bgr.shape[1])
        chip = self.chip(face_bgr, landmarks68)
        vec = np.asarray(self.model.compute_face_descriptor(np.ascontiguousarray(chip), self.jitter), np.float64)
        return vec / max(float(np.linalg.norm(vec)), 1e-12)


def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between embeddings ``a`` (N x 128 or 128) and ``b`` (M x 128): N x M."""
    a2, b2 = np.atleast_2d(a), np.atleast_2d(b)
    return np.sqrt(np.maximum(((a2[:, None, :] - b2[None, :, :]) ** 2).sum(-1), 0.0))
