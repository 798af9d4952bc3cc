"""Import a DeepFaceLab aligned faceset (DFLJPG files) as facecomp faceset files.

Every DFL field maps to our JSON metadata (:class:`engine.faces.faceset.FaceMeta`); the JPEG pixels are
kept byte for byte (DFL's APP15 segment is removed and ours added). Each file is validated completely
before anything is written, written to a temporary name and then renamed, so a face is either fully
converted or not at all. Files that are not DFLJPG or have damaged metadata are listed and skipped. The
source folder is only read.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine import atomic
from engine.dfl.dfljpg import DflJpg, read_dfljpg, strip_app15
from engine.errors import FacecompError
from engine.faces.faceset import FaceMeta, encode_mask, read_meta, update_meta
from engine.faces.facetype import FaceType
from engine.media.frames import frame_number
from engine.media.image_header import encoded_size
from engine.progress import progress

log = logging.getLogger("facecomp")

# DFL's default when a face has no face_type key
DEFAULT_FACE_TYPE = "full_face"
_FACE_INDEX = re.compile(r"_(\d+)$")


@dataclass
class FacesetImportReport:
    """What an import did: faces written, files skipped (with the reason), labels carried over."""

    src: str
    dst: str
    imported: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    with_polys: int = 0
    with_mask: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"src": self.src, "dst": self.dst, "imported": len(self.imported), "skipped": self.skipped,
                "with_polys": self.with_polys, "with_mask": self.with_mask, "files": self.imported}


def _points(value: Any, shape: tuple[int, ...] | None, name: str) -> np.ndarray:
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} is not numeric") from None
    if shape is not None and a.shape != shape:
        raise ValueError(f"{name} has shape {a.shape}, expected {shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} has non-finite values")
    return a


def convert_polys(value: Any) -> list[dict[str, Any]] | None:
    """DFL ``seg_ie_polys`` (dict form, or the older list of (type, pts) pairs) -> our ``xseg_polys``.

    Type 1 = include, 0 = exclude. DFL fills includes first, then cuts excludes, so includes come first.
    """
    if isinstance(value, dict):
        entries = value.get("polys", [])
        pairs = [(p.get("type"), p.get("pts")) if isinstance(p, dict) else (None, None) for p in entries]
    elif isinstance(value, list | tuple):
        pairs = [tuple(p) if isinstance(p, list | tuple) and len(p) == 2 else (None, None) for p in value]
    else:
        raise ValueError(f"seg_ie_polys is a {type(value).__name__}")
    out = []
    pts: Any
    for kind, pts in pairs:
        if kind not in (0, 1) or isinstance(kind, float):
            raise ValueError(f"seg_ie_polys entry with type {kind!r} (expected 1 include / 0 exclude)")
        a = _points(pts, None, "seg_ie_polys points").reshape(-1, 2) if np.size(pts) else np.zeros((0, 2))
        if len(a):
            out.append({"type": "include" if kind == 1 else "exclude", "points": a.tolist()})
    out.sort(key=lambda p: p["type"] != "include")  # stable: includes first, as DFL draws them
    return out or None


def max_mask_side(face_size: int) -> int:
    """The largest mask side accepted for a face of ``face_size`` px (DFL stores masks at the XSeg or face size)."""
    return 2 * max(int(face_size), 256)


def convert_mask(value: Any, face_size: int) -> str:
    """DFL ``xseg_mask`` (encoded PNG/JPEG bytes as a uint8 array; also a raw HxW mask) -> our base64 PNG.

    The encoded image's header is checked against ``face_size`` before decoding (a crafted header declaring
    12000x12000 px would otherwise cost gigabytes to decode).
    """
    buf = np.asarray(value)
    limit = max_mask_side(face_size)
    if buf.ndim in (2, 3) and buf.dtype.kind in "uf" and buf.size and (buf.ndim == 2 or buf.shape[2] == 1):
        if max(buf.shape[:2]) > limit:
            raise ValueError(f"xseg_mask is {buf.shape[1]}x{buf.shape[0]} px, more than a {face_size} px face needs")
        return encode_mask(buf.reshape(buf.shape[:2]).astype(np.float32) / (255.0 if buf.dtype == np.uint8 else 1.0))
    if buf.dtype != np.uint8 or buf.ndim != 1 or buf.size == 0:
        raise ValueError("xseg_mask is not encoded image bytes")
    declared = encoded_size(buf.tobytes()[:1 << 16])
    if declared is None:
        raise ValueError("xseg_mask is not a PNG or JPEG image")
    if max(declared) > limit or min(declared) < 1:
        raise ValueError(f"xseg_mask declares {declared[0]}x{declared[1]} px, more than a {face_size} px face needs")
    m = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if m is None:
        raise ValueError("xseg_mask does not decode as an image")
    if m.ndim == 3:
        m = m[..., 0] if m.shape[2] == 1 else cv2.cvtColor(m[..., :3], cv2.COLOR_BGR2GRAY)
    if m.dtype != np.uint8:
        m = (np.clip(m.astype(np.float32) / np.iinfo(m.dtype).max, 0, 1) * 255 + 0.5).astype(np.uint8)
    return encode_mask(m)


def _source_filename(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("source_filename is missing or not text")
    name = Path(value.replace("\\", "/")).name
    if name in ("", ".", ".."):
        raise ValueError(f"source_filename {value!r} is not a file name")
    return name


def face_meta_from_dfl(dfl: DflJpg, size: int) -> FaceMeta:
    """Map one DFLJPG metadata dict to our FaceMeta (ValueError says which field is wrong)."""
    d = dfl.meta
    face_type = d.get("face_type", DEFAULT_FACE_TYPE)
    if not isinstance(face_type, str):
        raise ValueError(f"face_type is a {type(face_type).__name__}")
    try:
        ft = FaceType.parse(face_type)
    except FacecompError:
        raise ValueError(f"unknown face_type {face_type!r}") from None
    if ft == FaceType.MARK_ONLY:
        raise ValueError("mark_only faces carry no aligned crop (re-extract them as aligned faces)")
    for key in ("landmarks", "source_filename", "source_rect", "source_landmarks", "image_to_face_mat"):
        if d.get(key) is None:
            raise ValueError(f"no {key}")
    source_filename = _source_filename(d["source_filename"])
    rect = _points(d["source_rect"], None, "source_rect").reshape(-1)
    if rect.size != 4:
        raise ValueError(f"source_rect has {rect.size} values, expected 4")
    mod = d.get("eyebrows_expand_mod", 1.0)
    if isinstance(mod, bool) or not isinstance(mod, int | float | np.number) or not np.isfinite(mod):
        raise ValueError("eyebrows_expand_mod is not a number")
    polys = convert_polys(d["seg_ie_polys"]) if d.get("seg_ie_polys") is not None else None
    mask = convert_mask(d["xseg_mask"], size) if d.get("xseg_mask") is not None else None
    index = _FACE_INDEX.search(dfl.path.stem)
    return FaceMeta(
        face_type=ft.label, size=size,
        landmarks=_points(d["landmarks"], (68, 2), "landmarks"),
        source_filename=source_filename,
        source_frame=frame_number(source_filename) or 0,
        source_rect=[float(v) for v in rect],
        source_landmarks=_points(d["source_landmarks"], (68, 2), "source_landmarks"),
        image_to_face_mat=_points(d["image_to_face_mat"], (2, 3), "image_to_face_mat"),
        face_index=int(index.group(1)) if index else 0,
        xseg_polys=polys, xseg_mask=mask,
        detector="deepfacelab", landmarker="deepfacelab",
        eyebrows_expand_mod=float(mod),
        extra={"imported_from": "deepfacelab"},
    )


def convert_face(src: Path, dst: Path) -> FaceMeta:
    """Convert one DFLJPG file to a facecomp face at ``dst`` (all or nothing); FacecompError if it can't."""
    dfl = read_dfljpg(src)
    pixels = strip_app15(dfl.data, src)
    img = cv2.imdecode(np.frombuffer(pixels, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise FacecompError("damaged JPEG image data", src)
    h, w = img.shape[:2]
    if h != w:
        raise FacecompError(f"aligned face is {w}x{h}, not square", src)
    try:
        meta = face_meta_from_dfl(dfl, w)
    except (ValueError, TypeError) as exc:
        raise FacecompError(f"damaged DeepFaceLab metadata ({exc})", src) from None
    with atomic.atomic_path(dst) as tmp:
        tmp.write_bytes(pixels)
        update_meta(tmp, meta)
        read_meta(tmp)  # our own reader accepts what we wrote
    return meta


def list_files(folder: Path) -> list[Path]:
    """The regular, non-hidden files of a DFL aligned folder, in name order."""
    if not folder.is_dir():
        raise FacecompError("DeepFaceLab faceset folder does not exist", folder)
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def _is_facecomp_face(path: Path) -> bool:
    try:
        read_meta(path)
    except FacecompError:
        return False
    return True


def check_source(folder: Path, files: list[Path], sample: int = 20) -> None:
    """Refuse, in one line, a folder whose faces are facecomp faces already (nothing to import)."""
    images = [f for f in files if f.suffix.lower() in (".jpg", ".jpeg", ".png")][:sample]
    if images and all(_is_facecomp_face(f) for f in images):
        raise FacecompError("these are already facecomp faces (no DeepFaceLab metadata to import); use the folder "
                            "as it is", folder)


def check_destination(files: list[Path], dst: Path, force: bool) -> None:
    """Refuse to replace faces (and the labels in them) already in ``dst`` unless ``force``."""
    clash = [f.name for f in files if (dst / f.name).exists()]
    if clash and not force:
        raise FacecompError(f"{len(clash)} face file(s) already exist in the destination ({clash[0]} ...); "
                            "use --force to replace them and their labels", dst)


def import_faceset(src: str | os.PathLike[str], dst: str | os.PathLike[str], force: bool = False
                   ) -> FacesetImportReport:
    """Convert every DFLJPG face of ``src`` into ``dst`` (same file names); originals never modified, faces
    already in ``dst`` replaced only with ``force``. Nothing is written (no folder made) before all checks pass."""
    s, d = Path(src), Path(dst)
    files = list_files(s)
    if d.exists() and not d.is_dir():
        raise FacecompError("destination exists and is not a folder", d)
    if d.resolve() == s.resolve():
        raise FacecompError("destination is the DeepFaceLab folder itself; originals are never modified, "
                            "choose another folder", d)
    check_source(s, files)
    check_destination(files, d, force)
    report = FacesetImportReport(str(s), str(d))
    for f in progress(files, total=len(files), desc="import-dfl faceset", unit="face"):
        if f.suffix.lower() not in (".jpg", ".jpeg"):
            report.skipped.append({"file": f.name, "reason": "not a DeepFaceLab JPEG (DFLJPG) file"})
            continue
        try:
            meta = convert_face(f, d / f.name)
        except FacecompError as exc:
            report.skipped.append({"file": f.name, "reason": exc.message})
            log.warning("skipped %s", exc)
            continue
        report.imported.append(f.name)
        report.with_polys += bool(meta.xseg_polys)
        report.with_mask += meta.xseg_mask is not None
    return report
