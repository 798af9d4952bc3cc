"""Writing what a swapped frame produces: merged image and mask (DFL's merged/ and merged_mask/), the EXR
compositing passes (layers and data window: :mod:`engine.swap.passes`), and the patch + matrix sidecar.

Patches (faceswap's patch-writer semantics, one JSON per frame: ``<dir>/<frame name>.json``)::

    {"format": "facecomp-patches", "version": 1, "frame": 1001, "name": "plate.1001",
     "origin": "bottom-left", "frame_size": [w, h], "color_space": "ACEScg",
     "faces": [{"index": 0, "patch": "plate.1001_0.exr", "size": 128,
                "matrix": [[a, b, c], [d, e, f], [0, 0, 1]],   # patch coords -> frame coords
                "roi": [[x, y] x 4]}]}                        # patch corners (0,0) (S,0) (S,S) (0,S) in the frame

Coordinates are continuous pixel coordinates (pixel i covers [i, i+1)) with the chosen canvas origin:
``bottom-left`` (Nuke, the default: y up), ``top-left`` (OpenCV/most tools), ``top-right``, ``bottom-right``.
The patch EXR holds the raw face (premultiplied) with the mask as alpha. In Nuke a CornerPin2D from the
patch corners to ``roi`` places it on the plate.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from engine import atomic
from engine.media import color
from engine.media.image_io import to_uint8, write_exr, write_image
from engine.swap.passes import (
    DEFAULT_PASSES,
    EXR_LAYOUTS,
    PASS_COMPRESSION,
    PASSES,
    check_exr_layout,
    parse_passes,
    write_passes,
)
from engine.swap.pipeline import FrameResult, Patch, plate_to_float

__all__ = ["DEFAULT_PASSES", "EXR_LAYOUTS", "ORIGINS", "PASSES", "PASS_COMPRESSION", "check_exr_layout",
           "parse_passes", "patch_matrix", "patch_roi", "write_mask", "write_merged", "write_passes", "write_patches"]

ORIGINS = ("bottom-left", "top-left", "top-right", "bottom-right")


def _flip(origin: str, w: float, h: float) -> np.ndarray:
    """Matrix from top-left continuous coordinates to ``origin`` coordinates (its own inverse)."""
    sx = -1.0 if origin.endswith("right") else 1.0
    sy = -1.0 if origin.startswith("bottom") else 1.0
    return np.array([[sx, 0, w if sx < 0 else 0], [0, sy, h if sy < 0 else 0], [0, 0, 1]], np.float64)


def patch_matrix(matrix_cv: np.ndarray, size: int, frame_w: int, frame_h: int,
                 origin: str = "bottom-left") -> np.ndarray:
    """A patch -> frame matrix in OpenCV's convention (pixel centres on integers) re-expressed in continuous
    coordinates with canvas ``origin``."""
    if origin not in ORIGINS:
        raise ValueError(f"origin must be one of {', '.join(ORIGINS)}")
    half = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]], np.float64)
    cont = half @ np.asarray(matrix_cv, np.float64) @ np.linalg.inv(half)
    return _flip(origin, frame_w, frame_h) @ cont @ _flip(origin, size, size)


def patch_roi(matrix: np.ndarray, size: int) -> list[list[float]]:
    """The patch corners (0,0), (S,0), (S,S), (0,S) mapped by ``matrix`` (same origin convention)."""
    corners = np.array([[0, 0, 1], [size, 0, 1], [size, size, 1], [0, size, 1]], np.float64)
    pts = corners @ matrix.T
    return np.round(pts[:, :2] / pts[:, 2:], 4).tolist()


def write_merged(path: str | os.PathLike[str], result: FrameResult) -> None:
    """The merged image: half EXR (working space) for a .exr path, else 8-bit (clipped) as DFL."""
    p = Path(path)
    if p.suffix.lower() == ".exr":
        m = plate_to_float(result.merged)
        write_exr(p, {"R": m[..., 2], "G": m[..., 1], "B": m[..., 0]})
    else:
        write_image(p, to_uint8(result.merged))


def write_mask(path: str | os.PathLike[str], result: FrameResult) -> None:
    """The mask as a single-channel 8-bit image."""
    write_image(path, to_uint8(result.mask))


def write_patches(folder: str | os.PathLike[str], number: int, name: str, result: FrameResult,
                  origin: str = "bottom-left", working_space: str | None = None) -> Path:
    """The per-face patches of a frame (EXR, premultiplied, mask in A) and their JSON sidecar."""
    out = Path(folder)
    h, w = result.plate.shape[:2]
    faces: list[dict[str, Any]] = []
    for patch in result.patches:
        faces.append(_write_patch(out, name, patch, w, h, origin))
    sidecar = out / f"{name}.json"
    data = {"format": "facecomp-patches", "version": 1, "frame": number, "name": name, "origin": origin,
            "frame_size": [w, h], "color_space": working_space or color.MODEL_SPACE, "faces": faces}
    atomic.write_text(sidecar, json.dumps(data))
    return sidecar


def _write_patch(out: Path, name: str, patch: Patch, w: int, h: int, origin: str) -> dict[str, Any]:
    size = patch.face.shape[0]
    file = f"{name}_{patch.index}.exr"
    a = patch.mask
    f = patch.face * a[..., None]
    write_exr(out / file, {"R": f[..., 2], "G": f[..., 1], "B": f[..., 0], "A": a})
    m = patch_matrix(patch.matrix, size, w, h, origin)
    return {"index": patch.index, "patch": file, "size": size, "matrix": np.round(m, 8).tolist(),
            "roi": patch_roi(m, size)}
