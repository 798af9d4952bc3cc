"""XSeg labels of a face: include/exclude polygons (``xseg_polys``, DFL's way) and label masks from mattes.

A face's *label* is what XSeg trains on. It is built from, in order:

1. ``xseg_label_mask`` (base64 PNG in the face metadata, written by ``xseg import-mattes``), if present;
2. the polygons in ``xseg_polys``, filled in list order: include -> 1, exclude -> 0 (DFL's rule).

So polygons drawn in the editor refine an imported matte. The *applied* mask (``xseg_mask``) is the output of
``xseg apply`` and is not a label (it is used for training only when no face carries a label).
"""

from __future__ import annotations

import os
from typing import Any

import cv2
import numpy as np

from engine.errors import FacecompError
from engine.faces.faceset import FaceMeta, decode_mask, encode_mask

LABEL_MASK_KEY = "xseg_label_mask"
_SHIFT = 4  # sub-pixel bits for cv2.fillPoly


def _fill(mask: np.ndarray, points: np.ndarray, value: float) -> None:
    pts = np.round(np.asarray(points, np.float64) * (1 << _SHIFT)).astype(np.int32)
    cv2.fillPoly(mask, [pts.reshape(-1, 1, 2)], float(value), lineType=cv2.LINE_8, shift=_SHIFT)


def polys_to_mask(polys: list[dict[str, Any]] | None, size: int | tuple[int, int],
                  base: np.ndarray | None = None) -> np.ndarray:
    """Rasterise polygons (in order) onto ``base`` (or zeros): float32 HxW in {0, 1} (base values kept)."""
    h, w = (size, size) if isinstance(size, int) else size
    mask = np.zeros((h, w), np.float32) if base is None else base.astype(np.float32).copy()
    for poly in polys or ():
        pts = np.asarray(poly["points"], np.float64)
        if len(pts) >= 3:
            _fill(mask, pts, 1.0 if poly["type"] == "include" else 0.0)
    return mask


def has_polys(meta: FaceMeta) -> bool:
    """True when the face has at least one polygon with 3+ points."""
    return any(len(p.get("points", ())) >= 3 for p in meta.xseg_polys or ())


def has_label(meta: FaceMeta) -> bool:
    """True when the face carries a training label (polygons or an imported label mask)."""
    return has_polys(meta) or bool(meta.extra.get(LABEL_MASK_KEY))


def label_mask(meta: FaceMeta, path: str | os.PathLike[str] | None = None,
               size: int | None = None) -> np.ndarray | None:
    """The face's label as float32 HxW 0..1 at the face size (or ``size``), or None without a label."""
    if not has_label(meta):
        return None
    side = int(meta.size)
    base = None
    text = meta.extra.get(LABEL_MASK_KEY)
    if text:
        if not isinstance(text, str):
            raise FacecompError(f"damaged {LABEL_MASK_KEY} in faceset metadata", path)
        base = decode_mask(text, path)
        if base.shape != (side, side):
            base = cv2.resize(base, (side, side), interpolation=cv2.INTER_LINEAR)
    mask = polys_to_mask(meta.xseg_polys, side, base)
    if size is not None and size != side:
        mask = cv2.resize(mask, (size, size), interpolation=cv2.INTER_AREA if size < side else cv2.INTER_LINEAR)
    return mask


def applied_mask(meta: FaceMeta, path: str | os.PathLike[str] | None = None,
                 size: int | None = None) -> np.ndarray | None:
    """The applied ``xseg_mask`` as float32 HxW 0..1 (resized to ``size``), or None."""
    if not meta.xseg_mask:
        return None
    m = decode_mask(meta.xseg_mask, path)
    side = size or int(meta.size)
    if m.shape != (side, side):
        m = cv2.resize(m, (side, side), interpolation=cv2.INTER_LINEAR)
    return m


def set_label_mask(meta: FaceMeta, mask: np.ndarray | None) -> None:
    """Store (or with None remove) an imported label mask."""
    if mask is None:
        meta.extra.pop(LABEL_MASK_KEY, None)
    else:
        meta.extra[LABEL_MASK_KEY] = encode_mask(mask)


def trace_polys(mask: np.ndarray, tolerance: float = 0.75, min_area: float = 4.0) -> list[dict[str, Any]]:
    """Polygons reproducing a mask (binarised at 0.5) when filled in order: each shape's outline (include), then
    its holes (exclude), then shapes inside the holes, and so on.

    Outlines run through the centres of the boundary pixels of the region they bound (holes are traced on the
    hole pixels), simplified with Douglas-Peucker at ``tolerance`` px; pieces under ``min_area`` px^2 are dropped.
    """
    binary = (np.asarray(mask, np.float32) > 0.5).astype(np.uint8)
    out: list[dict[str, Any]] = []
    _trace(binary, "include", tolerance, min_area, out, depth=0)
    return out


def _trace(binary: np.ndarray, kind: str, tolerance: float, min_area: float, out: list, depth: int) -> None:
    if depth > 16:
        return
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    for c in contours:
        if cv2.contourArea(c) < min_area and len(c) < 8:
            continue
        approx = cv2.approxPolyDP(c, tolerance, True).reshape(-1, 2).astype(np.float64)
        if len(approx) < 3:
            continue
        out.append({"type": kind, "points": approx.round(2).tolist()})
        region = np.zeros_like(binary)
        cv2.drawContours(region, [c], -1, 1, thickness=cv2.FILLED)
        inner = region & (1 - binary)  # what is not this level inside the outline: the next level
        if inner.any():
            _trace(inner.astype(np.uint8), "exclude" if kind == "include" else "include", tolerance, min_area,
                   out, depth + 1)


def iou(a: np.ndarray, b: np.ndarray, threshold: float = 0.5) -> float:
    """Intersection over union of two masks binarised at ``threshold`` (1.0 when both are empty)."""
    x, y = np.asarray(a) > threshold, np.asarray(b) > threshold
    union = np.logical_or(x, y).sum()
    return float(np.logical_and(x, y).sum() / union) if union else 1.0


def transform_polys(polys: list[dict[str, Any]], mat: np.ndarray, invert: bool = False) -> list[dict[str, Any]]:
    """Polygons mapped through a 2x3 affine (frame -> aligned face with ``image_to_face_mat``; ``invert`` back)."""
    from engine.faces.align import transform_points

    return [{"type": p["type"], "points": transform_points(np.asarray(p["points"], np.float64), mat, invert)
             .round(3).tolist()} for p in polys]
