"""Manual re-extraction of one face (DFL's manual extractor), without Qt.

The user places a face box or drags the 68 landmarks on the source frame; the face is re-aligned from
the new landmarks (landmarks from a box come from A's FaceExtractor.landmarks_from_rect) and rewritten in
place. Labels and masks already on the face are carried over into the new alignment.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path

import cv2
import numpy as np

from engine.errors import FacecompError
from engine.faces.align import transform_mat, transform_points, warp_face
from engine.faces.faceset import FaceMeta, decode_mask, encode_mask, write_face
from engine.media.frames import open_frames
from engine.xseg.labels import LABEL_MASK_KEY, transform_polys


def find_frame(path: Path, meta: FaceMeta, frames: str | os.PathLike[str] | None) -> np.ndarray:
    """The source frame of a face: from ``frames`` (folder/pattern/video) by frame number, else the file named
    ``source_filename`` beside the faceset folder (DFL's data_dst/aligned -> data_dst/)."""
    if frames is not None:
        src = open_frames(frames)
        if meta.source_frame not in src.numbers:
            raise FacecompError(f"frame {meta.source_frame} not in the frames", frames)
        return src.read(meta.source_frame)
    for cand in (path.parent.parent / meta.source_filename, path.parent / meta.source_filename):
        if cand.is_file():
            from engine.media.image_io import read_image

            return read_image(cand)
    raise FacecompError(f"source frame {meta.source_filename} not found beside the faceset (give --frames)", path)


def realign(path: str | os.PathLike[str], meta: FaceMeta, frame: np.ndarray, landmarks: np.ndarray,
            rect: np.ndarray | None = None, landmarker: str = "manual", jpeg_quality: int = 95) -> FaceMeta:
    """Rewrite the face file at ``path`` aligned from new frame-space ``landmarks``; returns the new metadata."""
    lm = np.asarray(landmarks, np.float64)
    if lm.shape != (68, 2) or not np.isfinite(lm).all():
        raise FacecompError("re-extraction needs 68 finite landmarks", path)
    size = int(meta.size)
    old = np.vstack([np.asarray(meta.image_to_face_mat, np.float64), [0, 0, 1]])
    mat = transform_mat(lm, size, meta.type)
    new = np.vstack([mat, [0, 0, 1]])
    old_to_new = (new @ np.linalg.inv(old))[:2]
    if frame.dtype != np.uint8:
        from engine.media.image_io import to_uint8

        frame = to_uint8(frame)
    image = warp_face(frame, mat, size)
    if rect is None:
        rect = np.concatenate([lm.min(0), lm.max(0)])
    out = dataclasses.replace(meta, extra=dict(meta.extra))
    out.landmarks = transform_points(lm, mat)
    out.source_landmarks = lm
    out.source_rect = [float(v) for v in rect]
    out.image_to_face_mat = mat
    out.landmarker = landmarker
    if meta.xseg_polys:
        out.xseg_polys = transform_polys(meta.xseg_polys, old_to_new)
    for key in ("xseg_mask", LABEL_MASK_KEY):
        text = meta.xseg_mask if key == "xseg_mask" else meta.extra.get(key)
        if text:
            m = cv2.warpAffine(decode_mask(text, path), old_to_new, (size, size), flags=cv2.INTER_LINEAR)
            if key == "xseg_mask":
                out.xseg_mask = encode_mask(m)
            else:
                out.extra[key] = encode_mask(m)
    write_face(path, image, out, jpeg_quality)
    return out


def landmarks_from_box(frame: np.ndarray, rect: np.ndarray) -> np.ndarray:
    """68 landmarks inside a face box [l, t, r, b] (A's FaceExtractor on the box)."""
    face = _extractor().landmarks_from_rect(frame if frame.dtype == np.uint8 else _u8(frame), np.asarray(rect, float))
    return np.asarray(face.landmarks, np.float64)


def _u8(img: np.ndarray) -> np.ndarray:
    from engine.media.image_io import to_uint8

    return to_uint8(img)


@functools.lru_cache(maxsize=1)
def _extractor():  # noqa: ANN202 - engine.faces.extract_faceset.FaceExtractor, imported lazily (loads ONNX models)
    from engine.faces.extract_faceset import FaceExtractor

    return FaceExtractor(max_faces=1)
