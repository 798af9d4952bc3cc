"""The per-frame swap (DESIGN.md "Per-frame swap"), shared by `facecomp merge`, `facecomp render` and the hosts.

plate (working colour space) -> OCIO to the model's space -> faces (landmarks from the track, the aligned
faceset or detection) -> aligned faces -> ONNX Runtime (all faces of the frame in one batch) -> masks, colour
transfer, paste (engine.swap.paste_face) -> OCIO back -> merged image, mask, premultiplied face pass, patches.

Only the faces' regions are converted and processed; outside the masks the plate's pixels are kept as they
were (no colour round trip). The output of a frame depends only on that frame, the model, the settings and
the landmarks given: stateless.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine.errors import FacecompError
from engine.faces.align import transform_mat, transform_points
from engine.faces.masks import hull_mask
from engine.media import color
from engine.media.image_io import to_uint8
from engine.swap import filters, mask_modes, paste_face
from engine.swap.onnx_model import FaceSwapModel
from engine.swap.paste_face import FaceInput, MergedFace, PreparedFace
from engine.swap.settings import MergeSettings

log = logging.getLogger("facecomp")

XSEG_FIX = "--xseg-model xseg.onnx, or the node's XSeg model"  # where a user gives one, on the CLI or in a host


@dataclass
class Patch:
    """One face's raw prediction for hand re-projection (faceswap's patch-writer semantics)."""

    index: int
    face: np.ndarray  # res x res x 3 BGR, working space, not premultiplied
    mask: np.ndarray  # res x res, 0..1
    matrix: np.ndarray  # 3x3 patch pixels -> frame pixels (OpenCV convention: pixel centres on integers)


@dataclass
class FaceLayer:
    """A face's raw prediction and where it goes in the plate, for the face pass (warped only when asked)."""

    roi: tuple[int, int, int, int]
    out_mat: np.ndarray  # 2x3 ROI pixels -> patch pixels
    patch: np.ndarray  # res x res x 3, working space
    mask: np.ndarray  # ROI
    name: str = "face0"  # the face's stable name (from the track; else by size in the frame)

    def raw(self) -> np.ndarray:
        """The raw prediction warped into the ROI (cubic; 0 outside the face square)."""
        x0, y0, x1, y1 = self.roi
        return cv2.warpAffine(self.patch, self.out_mat, (x1 - x0, y1 - y0), flags=paste_face.INVERSE)


def plate_to_float(plate: np.ndarray) -> np.ndarray:
    """The plate as float32 (8-bit divided by 255)."""
    return plate.astype(np.float32) / 255.0 if plate.dtype == np.uint8 else plate.astype(np.float32, copy=False)


def differing_space(plate: np.ndarray, working_space: str | None, space: str) -> str | None:
    """The plate's colour space when it must be converted to ``space`` (None: 8-bit, no space, or the same)."""
    if plate.dtype == np.uint8 or not working_space:
        return None
    ws = color.resolve_name(working_space)
    return None if ws == color.resolve_name(space) else ws


def to_space(img: np.ndarray, ws: str | None, space: str) -> np.ndarray:
    """Plate pixels as float32 0..1 in ``space`` (``ws`` from differing_space: None = no conversion)."""
    f = plate_to_float(img)
    return np.clip(f if ws is None else color.convert(f, ws, space), 0.0, 1.0)


def xseg_model_path(path: str | os.PathLike[str]) -> Path:
    """An XSeg model as ``--xseg-model`` and the worker's ``load`` take it (an exported .onnx or a trained XSeg
    model folder), ``~`` expanded and absolute. Raises FacecompError naming it when nothing is there; what is
    there is checked when it is opened (XSegApplier)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise FacecompError("no such XSeg model (an exported XSeg .onnx or an XSeg model folder)", p)
    return p.resolve()


def open_xseg(path: str | os.PathLike[str] | None, provider: str | None = None) -> Any:
    """An XSeg model (exported .onnx or a trained XSeg model folder) for the XSeg mask modes (None: none)."""
    if path is None:
        return None
    from engine.xseg.apply import XSegApplier

    return XSegApplier(xseg_model_path(path), providers=None if provider in (None, "auto") else provider)


def plate_xseg(xseg: Any, plate: np.ndarray, ws: str | None, space: str,
               landmarks: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """XSeg-dst on a plate: each face (``landmarks``, plate px) cut from the plate aligned as the XSeg model was
    trained (its face type and resolution) in colour ``space``, and masked in one batch. Per face: (mask
    float32 0..1 at the model's resolution, 2x3 matrix plate px -> mask square). The merger runs it live; the
    track stores it (facecomp track --xseg-model)."""
    size, ft = xseg.resolution, xseg.face_type
    h, w = plate.shape[:2]
    mats = [transform_mat(lm, size, ft) for lm in landmarks]
    crops = []
    for mat in mats:
        x0, y0, x1, y1 = paste_face.square_roi(mat, size, w, h)
        crops.append(paste_face.cut(to_space(plate[y0:y1, x0:x1], ws, space), (x0, y0, x1, y1), mat, size))
    return list(zip(list(xseg.mask(np.stack(crops))), mats, strict=True))


@dataclass
class FrameResult:
    """What one frame produces. ``merged`` has the plate's dtype (uint8 sRGB or float working space)."""

    plate: np.ndarray
    merged: np.ndarray  # the merged frame (raw-predict: the predicted face square, as DFL)
    mask: np.ndarray  # float32 HxW 0..1 (raw-predict: face-square size)
    face_mask: np.ndarray  # float32 HxW 0..1, frame size (the mask pass)
    layers: list[FaceLayer] = field(default_factory=list)
    patches: list[Patch] = field(default_factory=list)
    faces: int = 0

    def face_pass(self, window: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """The raw predicted faces in plate space, premultiplied by their masks (float32 HxWx3); only the
        ``window`` (x0, y0, x1, y1) of the plate when given (it must hold every face's ROI)."""
        wx, wy, wx1, wy1 = window or (0, 0, self.plate.shape[1], self.plate.shape[0])
        face = np.zeros((wy1 - wy, wx1 - wx, 3), np.float32)
        for layer in self.layers:
            x0, y0, x1, y1 = layer.roi
            a = layer.mask[..., None]
            sl = np.s_[y0 - wy:y1 - wy, x0 - wx:x1 - wx]
            face[sl] = face[sl] * (1.0 - a) + layer.raw() * a
        return face


class FrameSwapper:
    """Swaps the faces of single frames with one loaded model (and an optional XSeg model)."""

    def __init__(self, model: FaceSwapModel, xseg: Any = None):
        """``xseg``: an engine.xseg.apply.XSegApplier for the XSeg mask modes (None: stored masks only)."""
        self.model = model
        self.xseg = xseg
        self._warned: set[str] = set()

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message)

    # ---- colour -----------------------------------------------------------------------------------------
    def _space(self, plate: np.ndarray, working_space: str | None) -> str | None:
        """The plate's colour space when it differs from the model's (None: no conversion needed)."""
        return differing_space(plate, working_space, self.model.color_space)

    def _to_model(self, img: np.ndarray, ws: str | None) -> np.ndarray:
        return to_space(img, ws, self.model.color_space)

    def _from_model(self, img: np.ndarray, ws: str | None) -> np.ndarray:
        return img if ws is None else color.convert(img, self.model.color_space, ws)

    # ---- masks ------------------------------------------------------------------------------------------
    def _xseg_masks(self, plate: np.ndarray, ws: str | None, preps: list[PreparedFace], faces_out: np.ndarray,
                    settings: MergeSettings) -> list[dict[str, np.ndarray]]:
        res = self.model.resolution
        needed = mask_modes.needed(settings.mask_mode)
        extra: list[dict[str, np.ndarray]] = [{} for _ in preps]
        if "XSeg-prd" in needed:
            if self.xseg is None:
                raise FacecompError(f"mask mode {settings.mask_mode} needs an XSeg model ({XSEG_FIX})")
            for masks, m in zip(extra, self.xseg.mask(faces_out), strict=True):
                masks["XSeg-prd"] = m
        if "XSeg-dst" not in needed:
            return extra
        todo = []
        for i, prep in enumerate(preps):
            stored = paste_face.stored_xseg(prep, res)
            if stored is not None:
                extra[i]["XSeg-dst"] = stored
            else:
                todo.append(i)
        if todo and self.xseg is not None:  # XSeg on the dst face aligned as the XSeg model was trained
            live = plate_xseg(self.xseg, plate, ws, self.model.color_space, [preps[i].face.landmarks for i in todo])
            for i, (m, mat) in zip(todo, live, strict=True):
                extra[i]["XSeg-dst"] = paste_face.into_face_square(m, mat, preps[i], res)
        elif todo:
            self._warn_once("xseg-dst", "XSeg-dst: faces without a stored XSeg mask and no XSeg model; using the "
                                        f"landmark hull for them (give {XSEG_FIX}, or build the track with "
                                        "facecomp track --xseg-model)")
            for i in todo:
                pts = transform_points(preps[i].face.landmarks, preps[i].face_mat)
                extra[i]["XSeg-dst"] = hull_mask(pts, res, preps[i].face.eyebrows_expand_mod)
        return extra

    # ---- the plate pixels a frame needs ----------------------------------------------------------------------
    def plate_window(self, faces: list[FaceInput], settings: MergeSettings,
                     size: tuple[int, int]) -> tuple[int, int, int, int]:
        """The box (x0, y0, x1, y1, end-exclusive) of a ``size`` (w, h) plate whose pixels :meth:`swap` reads
        for ``faces``: every face's region (and, for an XSeg-dst mask mode with an XSeg model, the XSeg model's
        aligned square). Outside it the plate only reaches the merged frame, never the passes, so a plate read
        in this box alone (zeros around) gives the same passes. (0, 0, 0, 0) when no face is on the frame."""
        w, h = size
        res = self.model.resolution
        preps = [p for p in (paste_face.prepare(f, res, self.model.face_type, settings, w, h) for f in faces) if p]
        boxes = [p.roi for p in preps]
        if preps and self.xseg is not None and "XSeg-dst" in mask_modes.needed(settings.mask_mode):
            xs, ft = self.xseg.resolution, self.xseg.face_type
            boxes += [paste_face.square_roi(transform_mat(p.face.landmarks, xs, ft), xs, w, h) for p in preps]
        if not boxes:
            return 0, 0, 0, 0
        b = np.array(boxes)
        return int(b[:, 0].min()), int(b[:, 1].min()), int(b[:, 2].max()), int(b[:, 3].max())

    # ---- the frame --------------------------------------------------------------------------------------
    def swap(self, plate: np.ndarray, faces: list[FaceInput], settings: MergeSettings,
             working_space: str | None = None, compose: bool = True) -> FrameResult:
        """Swap ``faces`` (landmarks in plate pixels) into ``plate`` (uint8 sRGB or float in ``working_space``).
        ``compose=False``: only what the passes need (masks, raw faces, patches); the merged frame is not made
        (``merged`` is the plate itself): no colour transfer, blend, seamless clone or degrade."""
        if plate.ndim != 3 or plate.shape[2] != 3:
            raise FacecompError(f"frames must be 3-channel images, got shape {plate.shape}")
        h, w = plate.shape[:2]
        empty = np.zeros((h, w), np.float32)
        result = FrameResult(plate, plate, empty, empty)
        ws = self._space(plate, working_space)
        res = self.model.resolution
        preps = [p for p in (paste_face.prepare(f, res, self.model.face_type, settings, w, h) for f in faces) if p]
        if not preps:
            return result
        regions = [self._to_model(plate[p.roi[1]:p.roi[3], p.roi[0]:p.roi[2]], ws) for p in preps]
        for p, region in zip(preps, regions, strict=True):
            p.dst_face = paste_face.cut(region, p.roi, p.face_mat, res)
        dst_mask, prd, prd_mask = self.model.run(np.stack([p.dst_face for p in preps]), settings.morph_factor)
        extra = self._xseg_masks(plate, ws, preps, prd, settings)
        merged = [paste_face.merge(regions[i], p, (dst_mask[i], prd[i], prd_mask[i]), extra[i], settings, compose)
                  for i, p in enumerate(preps)]
        names = [p.face.name or f"face{i}" for i, p in enumerate(preps)]
        result = self._layers(plate, ws, merged, names)
        if compose:
            self._merge_frame(result, ws, merged, settings)
        return result

    def _layers(self, plate: np.ndarray, ws: str | None, merged: list[MergedFace], names: list[str]) -> FrameResult:
        """The frame's mask, face layers and patches (what the passes are made of)."""
        h, w = plate.shape[:2]
        mask = np.zeros((h, w), np.float32)
        result = FrameResult(plate, plate, mask, mask, faces=len(merged))
        for i, m in enumerate(merged):
            x0, y0, x1, y1 = m.roi
            mask[y0:y1, x0:x1] = np.minimum(mask[y0:y1, x0:x1] + m.mask, 1.0)
            patch = self._from_model(m.patch_face, ws)
            result.layers.append(FaceLayer(m.roi, m.out_mat, patch, m.mask, names[i]))
            result.patches.append(Patch(i, patch, m.patch_mask, m.patch_mat))
        return result

    def _merge_frame(self, result: FrameResult, ws: str | None, merged: list[MergedFace],
                     settings: MergeSettings) -> None:
        """``result.merged`` (and for raw-predict ``result.mask``): the faces over the plate, as DFL's merger."""
        plate = result.plate
        out = plate.copy()
        if any(m.degrade for m in merged) and (settings.image_denoise or settings.bicubic_degrade):
            degraded = filters.bicubic_degrade(filters.denoise(plate_to_float(plate), settings.image_denoise),
                                               settings.bicubic_degrade)
            out = to_uint8(degraded) if plate.dtype == np.uint8 else degraded
        result.merged = out
        for m in merged:
            x0, y0, x1, y1 = m.roi
            sl = np.s_[y0:y1, x0:x1]
            if m.layer is not None and m.blend is not None:
                b = m.blend[..., None]
                mixed = plate_to_float(out[sl]) * (1.0 - b) + self._from_model(m.layer, ws) * b
                out[sl] = to_uint8(mixed) if out.dtype == np.uint8 else mixed
        if settings.color_degrade and any(m.layer is not None for m in merged):
            if ws is None:
                degraded = filters.color_degrade(plate_to_float(out), settings.color_degrade)
                result.merged = to_uint8(degraded) if out.dtype == np.uint8 else degraded
            else:
                reduced = self._from_model(filters.reduce_colors(self._to_model(out, ws)), ws)
                a = settings.color_degrade / 100.0
                result.merged = out * (1.0 - a) + reduced * a
        if settings.mode == "raw-predict":
            crop = merged[0].patch_face.copy()
            crop_mask = merged[0].patch_mask.copy()
            for m in merged[1:]:
                weight = m.patch_mask[..., None]
                crop = crop * (1.0 - weight) + m.patch_face * weight
                crop_mask = np.minimum(crop_mask + m.patch_mask, 1.0)
            crop = self._from_model(crop, ws)
            result.merged = to_uint8(crop) if plate.dtype == np.uint8 else crop
            result.mask = crop_mask
