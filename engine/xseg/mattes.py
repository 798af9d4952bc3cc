"""Mattes in and out: frame-space matte sequences <-> per-face XSeg labels / masks.

Import: each face's frame (``source_frame``) is looked up in a matte sequence (``roto/shot.%04d.exr``, a
folder, PNG/TIFF/EXR, any channel), warped through the face's ``image_to_face_mat`` into aligned space and
stored as the face's label: a label mask (``xseg_label_mask``) or traced include/exclude polygons.

Export: each face's applied mask (or its label) is warped back to frame space; the faces of one frame are
combined (max) into one matte per frame, numbered as the frames (``source_frame``).
"""

from __future__ import annotations

import logging
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from engine.errors import FacecompError
from engine.faces.faceset import FaceMeta, update_meta
from engine.media.frames import format_pattern, is_pattern, open_frames
from engine.media.image_io import in_display_window, write_exr, write_image
from engine.progress import progress
from engine.xseg.faceset_ops import read_faceset
from engine.xseg.labels import applied_mask, has_label, label_mask, set_label_mask, trace_polys

log = logging.getLogger("facecomp")
SOURCE_SIZE_KEY = "source_size"
_CHANNEL_INDEX = {"B": 0, "G": 1, "R": 2, "A": 3}


@dataclass
class MatteReport:
    faces: int = 0
    written: int = 0
    missing: list[int] = field(default_factory=list)


def read_matte(path: str | os.PathLike[str], channel: str | None = None) -> np.ndarray:
    """One matte as float32 HxW in 0..1 from ``channel`` (EXR channel name, or R/G/B/A/Y); default: alpha if any,
    else the single channel, else luminance."""
    p = Path(path)
    if p.suffix.lower() == ".exr":
        return _read_exr_channel(p, channel)
    img = cv2.imdecode(np.fromfile(p, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise FacecompError("not a readable matte image", p)
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(img.dtype, 1.0)
    img = img.astype(np.float32) / scale
    if img.ndim == 2:
        if channel not in (None, "Y", "A", "R", "G", "B"):
            raise FacecompError(f"matte has one channel; --channel {channel} does not exist", p)
        return np.clip(img, 0, 1)
    key = (channel or ("A" if img.shape[2] == 4 else "Y")).upper()
    if key == "Y":
        bgr = img[..., :3]
        return np.clip(bgr @ np.array([0.0722, 0.7152, 0.2126], np.float32), 0, 1)
    idx = _CHANNEL_INDEX.get(key)
    if idx is None or idx >= img.shape[2]:
        raise FacecompError(f"matte has no channel {channel!r} (has {'BGRA'[:img.shape[2]]})", p)
    return np.clip(img[..., idx], 0, 1)


def _read_exr_channel(p: Path, channel: str | None) -> np.ndarray:
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(str(p))
    if inp is None:
        raise FacecompError(f"not a readable EXR ({oiio.geterror().strip()})", p)
    try:
        spec = inp.spec()
        names = list(spec.channelnames)
        if channel is None:
            pick = next((c for c in ("A", "facemask.A", "mask.A", "alpha", "Y", "R") if c in names), names[0])
        elif channel in names:
            pick = channel
        else:
            lower = [n.lower() for n in names]
            if channel.lower() not in lower:
                raise FacecompError(f"EXR has no channel {channel!r} (has {', '.join(names)})", p)
            pick = names[lower.index(channel.lower())]
        i = names.index(pick)
        data = inp.read_image(0, 0, i, i + 1, "float")
    finally:
        inp.close()
    if data is None:
        raise FacecompError("EXR pixel data is damaged", p)
    m = np.asarray(data, np.float32).reshape(spec.height, spec.width)
    m = in_display_window(m, spec)  # facecomp's passes have a data window
    return np.clip(np.nan_to_num(m, nan=0.0, posinf=1.0, neginf=0.0), 0, 1)


def _matte_files(spec: str) -> dict[int, Path]:
    source = open_frames(spec)
    files = getattr(source, "files", None)
    if files is None:
        raise FacecompError("mattes must be an image sequence (pattern or folder), not a video", spec)
    return dict(files)


def face_matte(matte: np.ndarray, meta: FaceMeta) -> np.ndarray:
    """A frame-space matte warped into the face's aligned square."""
    size = int(meta.size)
    return cv2.warpAffine(matte, np.asarray(meta.image_to_face_mat, np.float64), (size, size),
                          flags=cv2.INTER_AREA if _shrinks(meta) else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT)


def _shrinks(meta: FaceMeta) -> bool:
    m = np.asarray(meta.image_to_face_mat, np.float64)
    return float(np.sqrt(abs(np.linalg.det(m[:, :2])))) < 1.0


def read_frame_polygons(path: str | os.PathLike[str]) -> dict[int, list[dict]]:
    """Frame-space polygons from JSON: ``{"frames": {"<frame number>": [{"type": "include"|"exclude",
    "points": [[x, y], ...]}, ...]}}`` (roto shapes as polygons); validated."""
    import json

    from engine.faces.faceset import _check_polys

    p = Path(path)
    try:
        doc = json.loads(p.read_text("utf-8"))
        frames = doc["frames"] if isinstance(doc, dict) and "frames" in doc else doc
        return {int(k): _check_polys(v) for k, v in frames.items()}
    except (OSError, UnicodeDecodeError, ValueError, TypeError, AttributeError, KeyError) as exc:
        raise FacecompError(f"not a valid frame polygon file ({exc})", p) from None


def import_frame_polygons(folder: str | os.PathLike[str], polygons: dict[int, list[dict]]) -> MatteReport:
    """Store frame-space polygons (by frame number) as each face's ``xseg_polys``, mapped into aligned space."""
    from engine.xseg.labels import transform_polys

    faces = read_faceset(folder)
    report = MatteReport(faces=len(faces))
    for path, meta in faces:
        polys = polygons.get(meta.source_frame)
        if polys is None:
            report.missing.append(meta.source_frame)
            continue
        meta.xseg_polys = transform_polys(polys, meta.image_to_face_mat) or None
        update_meta(path, meta)
        report.written += 1
    if not report.written:
        raise FacecompError(f"no polygon frame matches a face's frame number (faces: frames {_span(faces)})", folder)
    return report


def import_mattes(folder: str | os.PathLike[str], mattes: str, channel: str | None = None,
                  as_polys: bool = False) -> MatteReport:
    """Store each face's matte (looked up by ``source_frame``) as its label; faces without a matte are left alone.
    ``mattes`` may also be a .json of frame-space polygons (see :func:`read_frame_polygons`)."""
    if str(mattes).lower().endswith(".json"):
        return import_frame_polygons(folder, read_frame_polygons(mattes))
    files = _matte_files(mattes)
    faces = read_faceset(folder)
    report = MatteReport(faces=len(faces))
    todo = [(p, m) for p, m in faces if m.source_frame in files]
    report.missing = sorted({m.source_frame for _, m in faces if m.source_frame not in files})
    if not todo:
        raise FacecompError(f"no matte matches a face's frame number (faces: frames {_span(faces)}; mattes: "
                            f"{min(files)}..{max(files)})", mattes)
    staged: list[tuple[Path, FaceMeta]] = []  # every matte is read before the first face file changes
    current: tuple[int, np.ndarray] | None = None
    for path, meta in progress(todo, total=len(todo), desc="import mattes", unit="face"):
        n = meta.source_frame
        if current is None or current[0] != n:
            current = (n, read_matte(files[n], channel))
        matte = current[1]
        label = face_matte(matte, meta)
        if as_polys:
            meta.xseg_polys = trace_polys(label)
            set_label_mask(meta, None)
        else:
            set_label_mask(meta, label)
            meta.xseg_polys = None
        meta.extra[SOURCE_SIZE_KEY] = [int(matte.shape[1]), int(matte.shape[0])]
        staged.append((path, meta))
    for path, meta in staged:
        update_meta(path, meta)
        report.written += 1
    if report.missing:
        log.info("%d faces had no matte (frames %s)", len(faces) - len(todo), _span_numbers(report.missing))
    return report


def _span(faces: list[tuple[Path, FaceMeta]]) -> str:
    return _span_numbers([m.source_frame for _, m in faces])


def _span_numbers(nums: list[int]) -> str:
    return f"{min(nums)}..{max(nums)}" if nums else "none"


def _frame_size(meta: FaceMeta, folder: Path, size: tuple[int, int] | None) -> tuple[int, int]:
    """(width, height) of the face's source frame: --size, the stored source_size, or the frame file beside."""
    if size is not None:
        return size
    stored = meta.extra.get(SOURCE_SIZE_KEY)
    if isinstance(stored, list) and len(stored) == 2:
        return int(stored[0]), int(stored[1])
    for cand in (folder.parent / meta.source_filename, folder / meta.source_filename):
        if cand.is_file():
            from engine.media.image_io import read_image

            h, w = read_image(cand).shape[:2]
            return w, h
    raise FacecompError("cannot tell the frame size of the faces' source frames: give --frames (the frames) or "
                        "--size WxH", folder)


def export_mattes(folder: str | os.PathLike[str], out: str, source: str = "auto", frames: str | None = None,
                  size: tuple[int, int] | None = None, channel: str = "A", soft: bool = False) -> MatteReport:
    """Write one frame-space matte per frame (``out`` pattern, .exr/.png/.tif); with ``frames`` also the empty
    mattes of frames without faces, so the sequence has no holes."""
    if not is_pattern(out):
        raise FacecompError("--out must be a numbered pattern such as mattes/shot.%04d.exr or mattes/####.png", out)
    ext = Path(out).suffix.lower()
    if ext not in (".exr", ".png", ".tif", ".tiff"):
        raise FacecompError("matte output must be .exr, .png or .tif", out)
    folder = Path(folder)
    faces = read_faceset(folder)
    numbers: list[int] | None = None
    if frames is not None:
        src = open_frames(frames)
        numbers = list(src.numbers)
        first = src.read(numbers[0])
        size = size or (first.shape[1], first.shape[0])
    if not any(m.xseg_mask or has_label(m) for _, m in faces):
        raise FacecompError("no applied xseg masks or labels to export (run `facecomp xseg apply` first)", folder)
    by_frame: dict[int, list[tuple[Path, FaceMeta]]] = defaultdict(list)
    for p, m in faces:
        by_frame[m.source_frame].append((p, m))
    report = MatteReport(faces=len(faces))
    all_numbers = sorted(set(by_frame) | set(numbers or []))
    for n in progress(all_numbers, total=len(all_numbers), desc="export mattes", unit="frame"):
        group = by_frame.get(n, [])
        if group:
            w, h = _frame_size(group[0][1], folder, size)
        else:
            assert size is not None
            w, h = size
        matte = np.zeros((h, w), np.float32)
        for path, meta in group:
            face_matte = _face_mask(path, meta, source)
            if face_matte is None:
                continue
            back = cv2.warpAffine(face_matte, np.asarray(meta.image_to_face_mat, np.float64), (w, h),
                                  flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT)
            matte = np.maximum(matte, back)
        if not soft:
            matte = (matte >= 0.5).astype(np.float32)
        target = format_pattern(out, n)
        if ext == ".exr":
            write_exr(target, {channel: matte})
        else:
            write_image(target, (matte * 255 + 0.5).astype(np.uint8))
        report.written += 1
    return report


def _face_mask(path: Path, meta: FaceMeta, source: str) -> np.ndarray | None:
    if source not in ("auto", "applied", "labels"):
        raise FacecompError(f"--source must be auto, applied or labels, not {source!r}")
    if source in ("auto", "applied") and meta.xseg_mask:
        return applied_mask(meta, path)
    if source in ("auto", "labels") and has_label(meta):
        return label_mask(meta, path)
    if source == "applied":
        log.debug("%s: no applied mask", path)
    return None


def parse_size(text: str) -> tuple[int, int]:
    """``1920x1080`` -> (1920, 1080)."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m:
        raise FacecompError(f"--size expects WIDTHxHEIGHT, got {text!r}")
    return int(m.group(1)), int(m.group(2))
