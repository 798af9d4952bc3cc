"""XSeg training samples: scan facesets, prepare faces at the model's resolution and face type, build targets
(kept in memory by the shared face cache, engine.training.xseg_samples).

A face is *labelled* when it has polygons or an imported label mask (engine.xseg.labels). Without any
labelled face, faces with an applied ``xseg_mask`` (binarised at 0.5) are used, as DFL does. In ``auto``
mode every face trains, its target being its label if it has one, else the geometric mask.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engine.errors import FacecompError
from engine.faces.align import transform_mat
from engine.faces.faceset import FaceMeta, read_meta, require_faces
from engine.faces.facetype import FaceType
from engine.media.image_io import read_image
from engine.xseg.generic import generic_mask
from engine.xseg.labels import applied_mask, has_label, label_mask

log = logging.getLogger("facecomp")


@dataclass
class FaceSample:
    """One face file of a faceset and how it can train."""

    path: Path
    meta: FaceMeta
    target: str  # "label" | "applied" | "generic" | "none"


def scan_facesets(folders: Iterable[str | os.PathLike[str]]) -> list[FaceSample]:
    """Every face of the given facesets with its metadata (damaged files raise FacecompError naming them)."""
    out: list[FaceSample] = []
    for folder in folders:
        files = require_faces(folder)
        for f in files:
            meta = read_meta(f)
            label = has_label(meta)
            if label:
                label_mask(meta, f)  # decode once now: a damaged label fails here, naming the file
            out.append(FaceSample(f, meta, "label" if label else ("applied" if meta.xseg_mask else "none")))
    return out


def select_training(samples: list[FaceSample], auto: bool) -> list[FaceSample]:
    """The samples that train: labelled ones (fallback applied masks); ``auto``: all, generic where unlabelled."""
    if auto:
        return [FaceSample(s.path, s.meta, "label" if s.target == "label" else "generic") for s in samples]
    labelled = [s for s in samples if s.target == "label"]
    if labelled:
        return labelled
    applied = [s for s in samples if s.target == "applied"]
    if applied:
        log.info("no labelled faces (polygons or imported mattes); training on %d applied xseg masks", len(applied))
        return applied
    raise FacecompError("no labelled faces in the facesets: draw polygons with `facecomp xseg edit`, import mattes "
                        "with `facecomp xseg import-mattes`, or train with --auto")


def face_to_model_mat(meta: FaceMeta, resolution: int, face_type: FaceType | str) -> np.ndarray:
    """2x3 from the face image's pixels to the model's square (a resize, or DFL's re-warp to another type)."""
    ft = FaceType.parse(face_type)
    if meta.type == ft:
        s = resolution / float(meta.size)
        return np.array([[s, 0, 0], [0, s, 0]], np.float64)
    return transform_mat(meta.landmarks, resolution, ft)


def model_landmarks(meta: FaceMeta, mat: np.ndarray) -> np.ndarray:
    return np.asarray(meta.landmarks, np.float64) @ mat[:, :2].T + mat[:, 2]


def prepare_face(path: Path, meta: FaceMeta, target: str, resolution: int,
                 face_type: FaceType) -> tuple[np.ndarray, np.ndarray]:
    """A face file at the model's size and face type with its training target: BGR uint8 image (area-resized
    when it shrinks at the same type, else bilinear, replicated borders) and uint8 target mask (0..255)."""
    img = read_image(path)
    img8 = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8) if img.dtype != np.uint8 else img
    mat = face_to_model_mat(meta, resolution, face_type)
    interp = cv2.INTER_AREA if mat[0, 0] < 1.0 and meta.type == face_type else cv2.INTER_LINEAR
    img8 = cv2.warpAffine(img8, mat, (resolution, resolution), flags=interp, borderMode=cv2.BORDER_REPLICATE)
    mask = target_mask(path, meta, target, mat, resolution, face_type)
    return img8, (np.clip(mask, 0, 1) * 255 + 0.5).astype(np.uint8)


def target_mask(path: Path, meta: FaceMeta, target: str, mat: np.ndarray, res: int,
                face_type: FaceType) -> np.ndarray:
    """The float mask a face trains towards: its label or applied mask (binarised at 0.5) or the geometric mask
    (``generic`` / ``none``)."""
    if target == "generic" or target == "none":
        return generic_mask(model_landmarks(meta, mat), res, face_type, meta.eyebrows_expand_mod)
    mask = label_mask(meta, path) if target == "label" else applied_mask(meta, path)
    if mask is None:
        raise FacecompError("face has no label mask", path)
    mask = cv2.warpAffine(mask, mat, (res, res), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return (mask > 0.5).astype(np.float32)
