"""FaceMesh 468 -> iBUG-68 landmarks (the layout DeepFaceLab aligns with).

Two steps:

1. **Index map.** The table of Peizhi Yan's mediapipe2dlib (MIT; shared/research/faces.md §2): a row with two
   mesh indices takes their mean.
2. **Fitted correction** (``ibug68_fit.json`` beside this module). The mapped points differ from iBUG's
   conventions systematically: the mesh's face contour lies inside the iBUG jaw, which follows the visible
   silhouette (more so on turned faces), and brows/eyes/nose sit a little differently. The correction is a
   ridge-regressed linear model: in a face frame normalised by a similarity fit of the 51 inner points to a
   template, each of the 68 points moves by ``features @ coef``. The features (:func:`features`) are the
   mesh's own pose (yaw and pitch from depth differences, and their magnitudes), the mouth opening and the
   shape of the mapped jaw (17 points, centred), standardised by the means/deviations stored with the fit.
   Fitted once by ``bench/fit_ibug68.py`` (how, on what, cross-validated and final residuals are recorded in
   the JSON file).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.faces.align import umeyama

FIT_FILE = Path(__file__).with_name("ibug68_fit.json")
INNER = slice(17, 68)
CHEEK_R, CHEEK_L = 234, 454  # mesh points at the widest part of the face, used for the yaw feature
FOREHEAD, CHIN = 10, 152  # mesh points on the vertical midline, used for the pitch feature
N_FEATURES = 40

# one entry per iBUG point 0..67: a mesh index or a pair of indices to average
MESH_TO_IBUG: tuple[tuple[int, ...], ...] = (
    # jaw 0-16
    (127,), (234,), (93,), (132, 58), (58, 172), (136,), (150,), (176,), (152,), (400,), (379,), (365,),
    (397, 288), (361,), (323,), (454,), (356,),
    # brows 17-26
    (70,), (63,), (105,), (66,), (107,), (336,), (296,), (334,), (293,), (300,),
    # nose 27-35
    (168, 6), (197, 195), (5,), (4,), (75,), (97,), (2,), (326,), (305,),
    # eyes 36-47
    (33,), (160,), (158,), (133,), (153,), (144,), (362,), (385,), (387,), (263,), (373,), (380,),
    # mouth outer 48-59
    (61,), (39,), (37,), (0,), (267,), (269,), (291,), (321,), (314,), (17,), (84,), (91,),
    # mouth inner 60-67
    (78,), (82,), (13,), (312,), (308,), (317,), (14,), (87,),
)


def _matrix() -> np.ndarray:
    m = np.zeros((68, 468))
    for i, idx in enumerate(MESH_TO_IBUG):
        m[i, list(idx)] = 1.0 / len(idx)
    return m


MAP = _matrix()


def mapped(mesh: np.ndarray) -> np.ndarray:
    """68x2 points by the index table alone (no correction)."""
    return MAP @ np.asarray(mesh, np.float64)[:, :2]


def pose_features(mesh: np.ndarray) -> np.ndarray:
    """[1, yaw, |yaw|] of one 468x3 mesh (yaw: cheek depth difference over cheek distance, about sin(yaw))."""
    m = np.asarray(mesh, np.float64)
    width = max(float(np.linalg.norm(m[CHEEK_L, :2] - m[CHEEK_R, :2])), 1e-6)
    yaw = float(np.clip((m[CHEEK_L, 2] - m[CHEEK_R, 2]) / width, -1.5, 1.5))
    return np.array([1.0, yaw, abs(yaw)])


def features(mesh: np.ndarray, normalised: np.ndarray) -> np.ndarray:
    """The correction's 40 raw features of one mesh: [1, yaw, |yaw|, pitch, |pitch|, mouth opening, jaw shape
    (17 x 2)]; ``normalised``: the index-mapped 68 points in the template frame."""
    m = np.asarray(mesh, np.float64)
    height = max(float(np.linalg.norm(m[FOREHEAD, :2] - m[CHIN, :2])), 1e-6)
    pitch = float(np.clip((m[CHIN, 2] - m[FOREHEAD, 2]) / height, -1.5, 1.5))
    mouth = float(np.linalg.norm(normalised[66] - normalised[62]))
    jaw = normalised[:17] - normalised[:17].mean(axis=0)
    return np.concatenate([pose_features(m), [pitch, abs(pitch), mouth], jaw.ravel()])


@dataclass(frozen=True)
class Correction:
    """The fitted model: template (51x2), feature standardisation (mean, std of features 1..) and coef (F x 136)."""

    template: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    coef: np.ndarray

    def offsets(self, raw_features: np.ndarray) -> np.ndarray:
        """68x2 offsets in the normalised frame for one feature vector from :func:`features`."""
        f = np.concatenate([raw_features[:1], (raw_features[1:] - self.mean) / self.std])
        return (f @ self.coef).reshape(68, 2)


@functools.lru_cache(maxsize=1)
def correction() -> Correction:
    """The fitted correction from ``ibug68_fit.json``."""
    data = json.loads(FIT_FILE.read_text())
    c = Correction(*(np.asarray(data[k], np.float64) for k in ("template", "feature_mean", "feature_std", "coef")))
    n = N_FEATURES
    if c.template.shape != (51, 2) or c.coef.shape != (n, 136) or c.mean.shape != (n - 1,) or c.std.shape != (n - 1,):
        raise ValueError(f"{FIT_FILE}: unexpected shapes {c.template.shape}, {c.coef.shape}")
    return c


def normalising_transform(points68: np.ndarray, template: np.ndarray) -> np.ndarray:
    """3x3 similarity taking the inner 51 of ``points68`` onto ``template``."""
    return umeyama(points68[INNER], template)


def mesh_to_ibug(mesh: np.ndarray, corrected: bool = True) -> np.ndarray:
    """68x2 iBUG points (same pixels as the mesh) from a 468x3 mesh; ``corrected`` applies the fitted model."""
    lm = mapped(mesh)
    if not corrected:
        return lm
    c = correction()
    t = normalising_transform(lm, c.template)
    normalised = lm @ t[:2, :2].T + t[:2, 2]
    offset = c.offsets(features(mesh, normalised))  # in the normalised frame
    return lm + offset @ np.linalg.inv(t[:2, :2]).T
