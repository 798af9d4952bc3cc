"""Faceset-wide XSeg operations: apply masks (model or geometric), remove masks/labels, fetch labelled faces.

Every face's metadata is read and validated before the first file changes, so a damaged face stops the
command before anything is written; each face file is then rewritten atomically without re-encoding its
pixels (JPEG/PNG).
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from engine import atomic
from engine.errors import FacecompError
from engine.faces.faceset import FaceMeta, encode_mask, read_meta, require_faces, update_meta
from engine.media.image_io import read_image
from engine.progress import progress
from engine.xseg.apply import XSegApplier, finish_mask
from engine.xseg.generic import generic_mask
from engine.xseg.labels import LABEL_MASK_KEY, applied_mask, has_label, label_mask

log = logging.getLogger("facecomp")
BATCH = 8


@dataclass
class OpReport:
    faces: int = 0
    changed: int = 0
    skipped: int = 0


def read_faceset(folder: str | os.PathLike[str], check_masks: bool = True) -> list[tuple[Path, FaceMeta]]:
    """(path, metadata) of every face, validated up front: a damaged label or mask fails here, naming the file,
    before anything is written."""
    files = require_faces(folder)
    out = []
    for f in files:
        meta = read_meta(f)
        if check_masks and has_label(meta):
            label_mask(meta, f)
        if check_masks and meta.xseg_mask:
            applied_mask(meta, f)
        out.append((f, meta))
    return out


def apply_masks(folder: str | os.PathLike[str], model: str | os.PathLike[str] | None = None, generic: bool = False,
                device: str | None = None, bf16: bool = False) -> OpReport:
    """Write ``xseg_mask`` into every face: from an XSeg model folder / ONNX, or the geometric mask."""
    if (model is None) == (not generic):
        raise FacecompError("apply needs either --model DIR|FILE or --generic")
    faces = read_faceset(folder)
    applier = XSegApplier(model, device=device, bf16=bf16) if model is not None else None
    report = OpReport(faces=len(faces))
    bar = progress(range(0, len(faces), BATCH), total=(len(faces) + BATCH - 1) // BATCH, desc="xseg apply",
                   unit="batch")
    for start in bar:
        chunk = faces[start:start + BATCH]
        if applier is None:
            masks = [generic_mask(m.landmarks, int(m.size), m.type, m.eyebrows_expand_mod) for _, m in chunk]
        else:
            masks = _model_masks(applier, chunk)
        for (path, meta), mask in zip(chunk, masks, strict=True):
            meta.xseg_mask = encode_mask(finish_mask(mask))
            update_meta(path, meta)
            report.changed += 1
    return report


def _model_masks(applier: XSegApplier, chunk: list[tuple[Path, FaceMeta]]) -> list:
    """Masks of a chunk of faces; the faces of the model's face type run as one batch."""
    images = [read_image(p) for p, _ in chunk]
    same = [i for i, (_, m) in enumerate(chunk) if m.type == applier.face_type]
    out: list = [None] * len(chunk)
    if same:
        for i, m in zip(same, applier.mask([images[i] for i in same]), strict=True):
            out[i] = m
    for i, (_, meta) in enumerate(chunk):
        if out[i] is None:
            out[i] = applier.mask_face(images[i], meta)
    return out


def remove(folder: str | os.PathLike[str], labels: bool = False) -> OpReport:
    """Delete applied masks (``xseg_mask``), or with ``labels`` the polygons and imported label masks (a damaged
    mask or label mask can be removed this way)."""
    faces = read_faceset(folder, check_masks=False)
    report = OpReport(faces=len(faces))
    for path, meta in faces:
        if labels:
            if not meta.xseg_polys and LABEL_MASK_KEY not in meta.extra:
                continue
            meta.xseg_polys = None
            meta.extra.pop(LABEL_MASK_KEY, None)
        else:
            if meta.xseg_mask is None:
                continue
            meta.xseg_mask = None
        update_meta(path, meta)
        report.changed += 1
    return report


def fetch(folder: str | os.PathLike[str], out: str | os.PathLike[str] | None = None, delete: bool = False) -> OpReport:
    """Copy the labelled faces to ``<folder>_xseg`` (DFL's xseg fetch); ``delete`` moves them instead."""
    src = Path(folder)
    faces = read_faceset(src)
    dest = Path(out) if out is not None else src.with_name(src.name + "_xseg")
    if dest.resolve() == src.resolve():
        raise FacecompError("fetch destination is the faceset itself", dest)
    dest.mkdir(parents=True, exist_ok=True)
    report = OpReport(faces=len(faces))
    for path, meta in faces:
        if not has_label(meta):
            report.skipped += 1
            continue
        with atomic.atomic_path(dest / path.name) as tmp:
            shutil.copyfile(path, tmp)
        if delete:
            path.unlink()
        report.changed += 1
    return report
