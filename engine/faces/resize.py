"""DeepFaceLab's faceset resizer: change the size (and optionally the face type) of aligned faces,
carrying landmarks, matrix, labels and masks along."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from engine.faces.align import transform_mat, transform_points
from engine.faces.faceset import FaceMeta, decode_mask, encode_mask, read_face, require_faces, write_face
from engine.faces.facetype import FaceType
from engine.progress import progress


def resize_face(
    image: np.ndarray, meta: FaceMeta, size: int, face_type: FaceType | None = None
) -> tuple[np.ndarray, FaceMeta]:
    """One face at a new size (and face type): pixels re-warped, every geometric field mapped along."""
    ft = face_type or meta.type
    if ft == meta.type:
        s = size / meta.size
        mat = np.array([[s, 0, 0], [0, s, 0]], np.float64)
    else:
        mat = transform_mat(meta.landmarks, size, ft)
    interp = cv2.INTER_AREA if ft == meta.type and size < meta.size else cv2.INTER_LANCZOS4
    out = cv2.warpAffine(image, mat, (size, size), flags=interp, borderMode=cv2.BORDER_REPLICATE)
    full = np.vstack([mat, [0, 0, 1]]) @ np.vstack([meta.image_to_face_mat, [0, 0, 1]])
    polys = None
    if meta.xseg_polys:
        polys = [
            {"type": p["type"], "points": transform_points(np.array(p["points"]), mat).tolist()}
            for p in meta.xseg_polys
        ]
    mask = None
    if meta.xseg_mask:
        m = decode_mask(meta.xseg_mask)  # stored at its own resolution: map its pixels to face pixels first
        to_face = np.diag([meta.size / m.shape[1], meta.size / m.shape[0], 1.0])
        m = cv2.warpAffine(m, (np.vstack([mat, [0, 0, 1]]) @ to_face)[:2], (size, size), flags=cv2.INTER_LINEAR)
        mask = encode_mask(m)
    new = FaceMeta(
        **{
            **meta.__dict__,
            "face_type": ft.label,
            "size": size,
            "landmarks": transform_points(meta.landmarks, mat),
            "image_to_face_mat": full[:2],
            "xseg_polys": polys,
            "xseg_mask": mask,
        }
    )
    return out, new


def resize_faceset(
    folder: str | os.PathLike[str],
    size: int,
    out_dir: str | os.PathLike[str],
    face_type: FaceType | None = None,
    jpeg_quality: int = 95,
) -> int:
    """Write every face of ``folder`` resized into ``out_dir`` (originals untouched); returns the count."""
    files = require_faces(folder)
    out = Path(out_dir)
    for f in progress(files, desc="resize", unit="face"):
        img, meta = read_face(f)
        img2, meta2 = resize_face(img, meta, size, face_type)
        write_face(out / f.name, img2, meta2, jpeg_quality)
    return len(files)
