"""DeepFaceLab's merge mask modes and mask processing (dfl.md §10).

Masks here live in the aligned face square at the model's output size (float32 HxW, 0..1):
``hull`` = landmark hull (mode "dst"), ``learned-prd`` = the model's source mask of the swapped face
(``out_celeb_face_mask``), ``learned-dst`` = its destination mask (``out_face_mask``), ``XSeg-prd`` /
``XSeg-dst`` = an XSeg model on the predicted / destination face (or the faceset's stored XSeg mask).
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.checks import check_choice, check_mask, check_number
from engine.errors import FacecompError

NOISE = 1.0 / 255.0
# DFL's index order: 0 full, 1 dst, 2 learned-prd ... 9 (index = position here)
MASK_MODES = ("full", "dst", "learned-prd", "learned-dst", "learned-prd*learned-dst", "learned-prd+learned-dst",
              "XSeg-prd", "XSeg-dst", "XSeg-prd*XSeg-dst", "learned-prd*learned-dst*XSeg-prd*XSeg-dst")


def needed(mask_mode: str) -> set[str]:
    """Which mask sources ``mask_mode`` combines (names as in the mode string; "dst" = the landmark hull)."""
    check_choice("mask_modes.needed", "mask_mode", mask_mode, MASK_MODES)
    if mask_mode == "full":
        return set()
    if mask_mode == "dst":
        return {"hull"}
    return {part for part in mask_mode.replace("+", "*").split("*")}


def combine(mask_mode: str, sources: dict[str, np.ndarray], size: int) -> np.ndarray:
    """The working mask of ``mask_mode`` from its sources (each resized to ``size`` if needed)."""
    where = "mask_modes.combine"
    check_number(where, "size", size, 1, None, integer=True)
    for name in needed(mask_mode):
        if name not in sources:
            raise FacecompError(f"{where}: sources has no {name!r} mask, needed by mask mode {mask_mode}")
        check_mask(where, f"sources[{name!r}]", sources[name])
    if mask_mode == "full":
        return np.ones((size, size), np.float32)

    def get(name: str) -> np.ndarray:
        m = sources[name]
        if m.shape[:2] != (size, size):
            m = cv2.resize(m, (size, size), interpolation=cv2.INTER_CUBIC)
        return np.clip(m.reshape(size, size), 0.0, 1.0).astype(np.float32)

    if mask_mode == "dst":
        mask = get("hull")
    elif "+" in mask_mode:
        mask = np.clip(sum(get(p) for p in mask_mode.split("+")), 0.0, 1.0)
    else:
        mask = np.ones((size, size), np.float32)
        for part in mask_mode.split("*"):
            mask = mask * get(part)
    mask = mask.astype(np.float32)
    mask[mask < NOISE] = 0.0
    return mask


def process(mask: np.ndarray, resolution: int, erode: int, blur: int, raw: bool) -> np.ndarray:
    """DFL's mask shaping at 4x the model resolution: erode (+) / dilate (-) with an ellipse, cut a border of
    blur/2 inside the face square, Gaussian blur (odd kernel). Returns the 4x mask clipped to 0..1.
    (``erode`` and ``blur`` are checked against their ranges once, by the merge settings.)"""
    where = "mask_modes.process"
    check_mask(where, "mask", mask)
    check_number(where, "resolution", resolution, 1, None, integer=True)
    check_number(where, "erode", erode, integer=True)
    check_number(where, "blur", blur, 0, None, integer=True)
    sub = resolution * 4
    m = cv2.resize(mask, (sub, sub), interpolation=cv2.INTER_CUBIC) if mask.shape[0] != sub else mask.copy()
    if raw or (erode == 0 and blur == 0):
        return np.clip(m, 0.0, 1.0)
    pad = resolution
    m = cv2.copyMakeBorder(m, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0.0)
    if erode != 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (abs(erode), abs(erode)))
        m = cv2.erode(m, k) if erode > 0 else cv2.dilate(m, k)
    clip = pad + blur // 2
    m[:clip, :] = 0
    m[-clip:, :] = 0
    m[:, :clip] = 0
    m[:, -clip:] = 0
    if blur > 0:
        k = blur + (1 - blur % 2)
        m = cv2.GaussianBlur(m, (k, k), 0)
    return np.clip(m[pad:-pad, pad:-pad], 0.0, 1.0)
