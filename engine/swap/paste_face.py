"""Merging one predicted face into its frame: DeepFaceLab's MergeMasked math (dfl.md §10) in the model's colour
space, restricted to the face's region of the frame (ROI) so that big plates stay cheap.

Per face: mask mode -> mask shaping at 4x resolution -> warp to the frame; colour transfer / hist-match on the
face square; paste (overlay, seamless clone, raw) and the optional post pass on the face square (motion blur,
sharpen, seamless colour fix). The frame-level work (colour spaces, several faces, degrade, passes) is in
:mod:`engine.swap.pipeline`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.faces.align import transform_mat, transform_points
from engine.faces.facetype import FaceType
from engine.faces.masks import hull_mask
from engine.swap import color_transfer, filters, mask_modes
from engine.swap.settings import MergeSettings

INVERSE = cv2.WARP_INVERSE_MAP | cv2.INTER_CUBIC


@dataclass
class FaceInput:
    """A face to swap: 68 landmarks in frame pixels and what the track or faceset knows about it."""

    landmarks: np.ndarray
    rect: np.ndarray | None = None
    xseg_mask: np.ndarray | None = None  # stored XSeg mask (HxW, 0..1) in its own aligned square
    xseg_mat: np.ndarray | None = None  # 2x3 frame -> that square, at the mask's size
    motion: tuple[float, float] | None = None  # (power px, angle deg) from the neighbouring frames
    eyebrows_expand_mod: float = 1.0
    name: str | None = None  # the face's stable name from the track (None: named by size in the frame)

    @property
    def size(self) -> float:
        """Face size in pixels (landmark bounding-box diagonal), for largest-first ordering."""
        span = self.landmarks.max(0) - self.landmarks.min(0)
        return float(np.hypot(*span))


@dataclass
class PreparedFace:
    """A face cut out of the frame for the model: matrices (frame -> face square) and the aligned face."""

    face: FaceInput
    face_mat: np.ndarray  # res, scale 1
    out_mat: np.ndarray  # res, output face scale
    mask_mat: np.ndarray  # 4*res, output face scale
    roi: tuple[int, int, int, int]  # x0, y0, x1, y1 of the frame region the face can touch
    dst_face: np.ndarray  # res x res x 3, model space


@dataclass
class MergedFace:
    """One face merged into its ROI: ``layer`` is composited over the frame with ``blend``; ``mask`` is the
    output mask (DFL's merging mask); the patch (raw prediction, its mask and matrices) serves the face pass."""

    roi: tuple[int, int, int, int]
    layer: np.ndarray | None  # ROI x 3, model space (None: the frame is kept)
    blend: np.ndarray | None  # ROI alpha for ``layer``
    mask: np.ndarray  # ROI
    out_mat: np.ndarray  # 2x3 ROI pixels -> patch pixels (with the output face scale)
    patch_face: np.ndarray  # res x res x 3 raw prediction (model space)
    patch_mask: np.ndarray  # res x res working mask (after erode/blur)
    patch_mat: np.ndarray  # 3x3 patch pixels -> frame pixels (OpenCV pixel centres)
    degrade: bool  # this face asks for the frame-level denoise/degrade (DFL applies them with a face only)


def _shift(mat: np.ndarray, x0: int, y0: int) -> np.ndarray:
    """A frame -> face matrix re-based on an ROI whose top-left is (x0, y0)."""
    m = np.array(mat, np.float64)
    m[:, 2] += m[:, :2] @ np.array([x0, y0], np.float64)
    return m


def _roi(mats: list[tuple[np.ndarray, int]], width: int, height: int, margin: int = 3) -> tuple[int, int, int, int]:
    corners = []
    for mat, size in mats:
        sq = np.array([[0, 0], [size, 0], [size, size], [0, size]], np.float64)
        corners.append(transform_points(sq, mat, invert=True))
    pts = np.concatenate(corners)
    x0, y0 = np.floor(pts.min(0)).astype(int) - margin
    x1, y1 = np.ceil(pts.max(0)).astype(int) + margin
    return max(0, x0), max(0, y0), min(width, x1), min(height, y1)


def prepare(face: FaceInput, resolution: int, face_type: FaceType, settings: MergeSettings, width: int,
            height: int) -> PreparedFace | None:
    """Matrices and frame region of ``face`` in a ``width`` x ``height`` frame (None: the face is off-frame).
    The aligned destination face is cut later from the region (``cut``), so only the region is converted."""
    scale = 1.0 + 0.01 * settings.face_scale
    face_mat = transform_mat(face.landmarks, resolution, face_type)
    out_mat = transform_mat(face.landmarks, resolution, face_type, scale=scale)
    mask_mat = transform_mat(face.landmarks, resolution * 4, face_type, scale=scale)
    roi = _roi([(face_mat, resolution), (out_mat, resolution)], width, height)
    if roi[2] - roi[0] < 2 or roi[3] - roi[1] < 2:
        return None
    empty = np.zeros((resolution, resolution, 3), np.float32)
    return PreparedFace(face, face_mat, out_mat, mask_mat, roi, empty)


def square_roi(mat: np.ndarray, size: int, width: int, height: int) -> tuple[int, int, int, int]:
    """The frame region (clipped to the frame) that the aligned square of ``mat`` covers."""
    return _roi([(mat, size)], width, height)


def cut(region: np.ndarray, roi: tuple[int, int, int, int], mat: np.ndarray, size: int) -> np.ndarray:
    """An aligned face (``mat``: frame -> square of ``size``) from a frame ``region`` whose place in the frame is
    ``roi`` (model space, cubic, black outside the frame as DFL)."""
    local = _shift(mat, roi[0], roi[1])
    return np.clip(cv2.warpAffine(region, local, (size, size), flags=cv2.INTER_CUBIC), 0.0, 1.0)


def into_face_square(mask: np.ndarray, mask_mat: np.ndarray, prep: PreparedFace, resolution: int) -> np.ndarray:
    """A mask living in another aligned square (``mask_mat``: frame -> that square) carried into this face's
    square at ``resolution`` (e.g. an XSeg mask of a whole_face crop into a full_face model's square)."""
    to_face = np.vstack([prep.face_mat, [0, 0, 1]]) @ np.linalg.inv(np.vstack([mask_mat, [0, 0, 1]]))
    out = cv2.warpAffine(mask.astype(np.float32), to_face[:2], (resolution, resolution), flags=cv2.INTER_CUBIC)
    return np.clip(out, 0.0, 1.0)


def stored_xseg(prep: PreparedFace, resolution: int) -> np.ndarray | None:
    """The faceset's XSeg mask carried into this face square (None when the face has none)."""
    f = prep.face
    if f.xseg_mask is None or f.xseg_mat is None:
        return None
    return into_face_square(f.xseg_mask, f.xseg_mat, prep, resolution)


def _seamless(layer: np.ndarray, background: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """cv2.seamlessClone of ``layer`` into ``background`` (ROI images, model space) inside ``mask`` binarised at
    the first tenth it is non-empty at, centred on the mask box as DFL does (no jitter)."""
    binary = None
    for i in range(1, 10):
        if (mask > i / 10.0).any():
            binary = (mask > i / 10.0).astype(np.uint8) * 255
            break
    if binary is None:
        return None
    x, y, bw, bh = cv2.boundingRect(binary)
    h, w = binary.shape
    if x < 1 or y < 1 or x + bw > w - 1 or y + bh > h - 1:
        binary[:1, :] = binary[-1:, :] = 0
        binary[:, :1] = binary[:, -1:] = 0
        x, y, bw, bh = cv2.boundingRect(binary)
        if bw < 2 or bh < 2:
            return None
    try:
        out = cv2.seamlessClone((np.clip(layer, 0, 1) * 255).astype(np.uint8),
                                (np.clip(background, 0, 1) * 255).astype(np.uint8), binary,
                                (int(x + bw / 2), int(y + bh / 2)), cv2.NORMAL_CLONE)
    except cv2.error:
        return None
    return out.astype(np.float32) / 255.0


def _hist_match(prd: np.ndarray, dst: np.ndarray, area: np.ndarray, s: MergeSettings) -> np.ndarray:
    """DFL's hist-match mode: outside the (optional) mask both faces are white, then per-channel matching."""
    m = area[..., None] if s.masked_hist_match else np.ones(area.shape + (1,), np.float32)
    white = 1.0 - m
    a = np.minimum(prd * m + white, 1.0)
    b = np.minimum(dst * m + white, 1.0)
    return color_transfer.hist_match(a, b, s.hist_match_threshold)


def merge(region: np.ndarray, prep: PreparedFace, prediction: tuple[np.ndarray, np.ndarray, np.ndarray],
          masks: dict[str, np.ndarray], settings: MergeSettings, compose: bool = True) -> MergedFace:
    """Merge one predicted face into its frame region (``region`` = the ROI of the frame in model space).

    ``prediction`` = (dst_mask, celeb_face, celeb_mask) of this face at the model resolution;
    ``masks`` = extra sources for the mask mode ("XSeg-prd", "XSeg-dst"), already at that resolution.
    ``compose=False``: the mask and the patch only (what the passes need), no layer for the merged frame.
    """
    s = settings
    dst_mask, prd_raw, prd_mask = (np.asarray(a, np.float32) for a in prediction)
    res = prd_raw.shape[0]
    x0, y0, x1, y1 = prep.roi
    rw, rh = x1 - x0, y1 - y0
    out_mat, face_mat = _shift(prep.out_mat, x0, y0), _shift(prep.face_mat, x0, y0)
    mask_mat = _shift(prep.mask_mat, x0, y0)
    back = region

    sources = dict(masks)
    needed = mask_modes.needed(s.mask_mode)
    if "hull" in needed:
        pts = transform_points(prep.face.landmarks, prep.face_mat)
        sources["hull"] = hull_mask(pts, res, prep.face.eyebrows_expand_mod)
    sources["learned-prd"] = prd_mask[..., 0]
    sources["learned-dst"] = dst_mask[..., 0]
    work = mask_modes.combine(s.mask_mode, sources, res)
    raw_mode = s.mode.startswith("raw")
    sub = mask_modes.process(work, res, s.erode, s.blur, raw_mode)
    mask = cv2.warpAffine(sub, mask_mat, (rw, rh), flags=INVERSE)
    mask = np.clip(mask, 0.0, 1.0)
    mask[mask < mask_modes.NOISE] = 0.0
    work = cv2.resize(sub, (res, res), interpolation=cv2.INTER_CUBIC) if sub.shape[0] != res else sub
    work = np.clip(work, 0.0, 1.0)

    patch_mat = np.linalg.inv(np.vstack([prep.out_mat, [0, 0, 1]]))
    result = MergedFace(prep.roi, None, None, mask, out_mat, prd_raw, work, patch_mat, False)
    if not compose or s.mode in ("original", "raw-predict"):
        return result
    if s.mode == "raw-rgb":
        footprint = cv2.warpAffine(np.ones((res, res), np.float32), out_mat, (rw, rh), flags=INVERSE)
        result.layer = cv2.warpAffine(prd_raw, out_mat, (rw, rh), flags=INVERSE)
        result.blend = np.clip(footprint, 0.0, 1.0)
        return result

    ys, xs = np.nonzero(mask >= 0.1)
    if ys.size == 0 or min(xs.max() - xs.min(), ys.max() - ys.min()) < 4:
        return result
    area = (work > 0).astype(np.float32)
    prd = prd_raw
    seamless = "seamless" in s.mode
    if not seamless and s.color_transfer != "none":
        prd = color_transfer.transfer(s.color_transfer, prd, prep.dst_face, area)
    if s.mode == "hist-match":
        prd = _hist_match(prd, prep.dst_face, area, s)

    layer = cv2.warpAffine(prd, out_mat, (rw, rh), back.copy(), flags=INVERSE, borderMode=cv2.BORDER_TRANSPARENT)
    layer = np.clip(layer, 0.0, 1.0)
    if seamless:
        cloned = _seamless(layer, back, mask)
        if cloned is not None:
            layer = cloned

    post_ct = seamless and s.color_transfer != "none"
    motion = s.motion_blur > 0 and prep.face.motion is not None
    if post_ct or s.mode == "seamless-hist-match" or motion or s.sharpen_amount != 0:
        m3 = mask[..., None]
        composite = back * (1.0 - m3) + layer * m3
        face = np.clip(cv2.warpAffine(composite, face_mat, (res, res), flags=cv2.INTER_CUBIC), 0.0, 1.0)
        if post_ct:
            face = color_transfer.transfer(s.color_transfer, face, prep.dst_face, area)
        if s.mode == "seamless-hist-match":
            face = color_transfer.hist_match(face, prep.dst_face, s.hist_match_threshold)
        if motion:
            power, angle = prep.face.motion  # type: ignore[misc]
            face = filters.motion_blur(face, power, angle, s.motion_blur)
        face = filters.sharpen(face, s.sharpen_mode, s.sharpen_amount)
        layer = cv2.warpAffine(face, face_mat, (rw, rh), composite.copy(), flags=INVERSE,
                               borderMode=cv2.BORDER_TRANSPARENT)
        layer = np.clip(layer, 0.0, 1.0)
    result.layer, result.blend = layer, mask
    result.degrade = True
    return result
