"""Preview image of an XSeg model: rows of faces with the predicted mask (and the label when there is one)."""

from __future__ import annotations

import cv2
import numpy as np


def overlay(img: np.ndarray, mask: np.ndarray, colour: tuple[float, float, float] = (0.2, 0.9, 0.2)) -> np.ndarray:
    """The face darkened outside ``mask`` with a coloured contour of the mask (float BGR 0..1)."""
    m = np.clip(mask, 0, 1)[..., None]
    out = img * (0.35 + 0.65 * m)
    edge = cv2.morphologyEx((mask > 0.5).astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    out[edge] = colour
    return out


def preview_grid(faces: list[np.ndarray], preds: list[np.ndarray], labels: list[np.ndarray | None],
                 tile: int = 128) -> np.ndarray:
    """uint8 BGR grid; one row per face: face | prediction overlay | predicted mask | label (grey when none)."""
    rows = []
    for img, pred, lab in zip(faces, preds, labels, strict=True):
        f = cv2.resize(img, (tile, tile), interpolation=cv2.INTER_AREA)
        p = cv2.resize(pred, (tile, tile), interpolation=cv2.INTER_AREA)
        lab_tile = (np.full((tile, tile, 3), 0.25, np.float32) if lab is None else
                    np.repeat(cv2.resize(lab, (tile, tile), interpolation=cv2.INTER_AREA)[..., None], 3, 2))
        rows.append(np.concatenate([f, overlay(f, p), np.repeat(p[..., None], 3, 2), lab_tile], 1))
    grid = np.concatenate(rows, 0) if rows else np.zeros((tile, tile * 4, 3), np.float32)
    return (np.clip(grid, 0, 1) * 255 + 0.5).astype(np.uint8)
