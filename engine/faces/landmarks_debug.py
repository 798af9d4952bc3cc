"""Landmark debug images of an extracted faceset, after the fact (DeepFaceLab's "add landmarks debug images").

Every face gets ``<stem>_debug.jpg``: the aligned face with its 68 landmarks and, when it has them, its XSeg
polygons (include green, exclude red). Given the frames, every source frame is drawn as the extractor's
``--debug-dir`` does (detector box, landmarks, aligned square), from the landmarks stored in the faces, so a
faceset extracted without ``--debug-dir`` (or edited since) can be checked without extracting again. The
faceset itself is never touched: the images go to their own folder.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engine.errors import FacecompError
from engine.faces.debug_draw import GREEN, RED, debug_image, draw_landmarks
from engine.faces.faceset import FaceMeta, list_faces, read_face
from engine.media.image_io import read_image, to_uint8, write_image


@dataclass
class DebugReport:
    out: Path
    faces: int
    frames: int
    missing_frames: list[str]


def face_debug(image: np.ndarray, meta: FaceMeta) -> np.ndarray:
    """A copy of an aligned face with its landmarks and XSeg polygons drawn."""
    out = (image if image.dtype == np.uint8 else to_uint8(image)).copy()
    scale = out.shape[1] / meta.size if meta.size else 1.0
    for poly in meta.xseg_polys or []:
        pts = np.round(np.asarray(poly["points"], np.float64) * scale).astype(np.int32)
        if len(pts) >= 2:
            cv2.polylines(out, [pts], True, GREEN if poly["type"] == "include" else RED, 1, cv2.LINE_AA)
    draw_landmarks(out, np.asarray(meta.landmarks) * scale, (0, 255, 255))
    return out


def write_landmarks_debug(folder: str | os.PathLike[str], out: str | os.PathLike[str] | None = None,
                          frames: str | os.PathLike[str] | None = None) -> DebugReport:
    """Write the debug images of every face of ``folder`` to ``out`` (default FOLDER_debug), and of every source
    frame found in ``frames`` to ``out/frames``."""
    src = Path(folder)
    faces = list_faces(src)
    if not faces:
        raise FacecompError("no face files here", src)
    target = Path(out) if out is not None else src.with_name(src.name + "_debug")
    if target.resolve() == src.resolve():
        raise FacecompError("the debug images go to their own folder, not into the faceset", target)
    by_frame: dict[str, list[FaceMeta]] = defaultdict(list)
    for path in faces:
        image, meta = read_face(path)
        write_image(target / f"{path.stem}_debug.jpg", face_debug(image, meta), 90)
        by_frame[meta.source_filename].append(meta)
    drawn, missing = 0, []
    if frames is not None:
        frame_dir = Path(frames)
        if not frame_dir.is_dir():
            raise FacecompError("frames folder does not exist", frame_dir)
        for name, metas in sorted(by_frame.items()):
            frame = frame_dir / name
            if not frame.is_file():
                missing.append(name)
                continue
            image = read_image(frame)
            image = image if image.dtype == np.uint8 else to_uint8(image)
            drawn_faces = [(np.asarray(m.source_rect), np.asarray(m.source_landmarks), np.asarray(m.image_to_face_mat))
                           for m in metas]
            write_image(target / "frames" / f"{Path(name).stem}.jpg", debug_image(image, drawn_faces, metas[0].size),
                        80)
            drawn += 1
    return DebugReport(target, len(faces), drawn, missing)
