"""FaceMesh 468 -> iBUG-68 landmarks (the layout DeepFaceLab aligns with).

Two steps:

1. **Index map.** The table of Peizhi Yan's mediapipe2dlib (MIT; shared/research/faces.md §2): a row with two
   mesh indices takes their mean.
2. **Fitted correction** (``ibug68_fit.json`` beside this module). The mapped points differ from iBUG's
   conventions systematically: the mesh's face contour lies inside the iBUG jaw, which follows the visible
   silhouette (more so on turned faces), and brows/eyes/nose sit a little differently. The correction is a
   small linear model: in a face frame normalised by a similarity fit of the 51 inner points to a template,
   each of the 68 points moves by ``[1, yaw, |yaw|] @ coef``, where ``yaw`` is the mesh's own depth
   difference between the cheeks (points 454 and 234) over their image distance. 3 x 136 numbers, fitted
   once by ``bench/fit_ibug68.py`` (how, on what, and the residuals are recorded in the JSON file).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from engine.faces.align import umeyama

FIT_FILE = Path(__file__).with_name("ibug68_fit.json")
INNER = slice(17, 68)
CHEEK_R, CHEEK_L = 234, 454  # mesh points at the widest part of the face, used for the yaw feature

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


@functools.lru_cache(maxsize=1)
def correction() -> tuple[np.ndarray, np.ndarray]:
    """(template 51x2, coef 3x136) from ``ibug68_fit.json``."""
    data = json.loads(FIT_FILE.read_text())
    template = np.asarray(data["template"], np.float64)
    coef = np.asarray(data["coef"], np.float64)
    if template.shape != (51, 2) or coef.shape != (3, 136):
        raise ValueError(f"{FIT_FILE}: unexpected shapes {template.shape}, {coef.shape}")
    return template, coef


def normalising_transform(points68: np.ndarray, template: np.ndarray) -> np.ndarray:
    """3x3 similarity taking the inner 51 of ``points68`` onto ``template``."""
    return umeyama(points68[INNER], template)


def mesh_to_ibug(mesh: np.ndarray, corrected: bool = True) -> np.ndarray:
    """68x2 iBUG points (same pixels as the mesh) from a 468x3 mesh; ``corrected`` applies the fitted model."""
    lm = mapped(mesh)
    if not corrected:
        return lm
    template, coef = correction()
    t = normalising_transform(lm, template)
    offset = (pose_features(mesh) @ coef).reshape(68, 2)  # in the normalised frame
    return lm + offset @ np.linalg.inv(t[:2, :2]).T
