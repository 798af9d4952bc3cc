"""Faceset files: an aligned face image whose metadata is JSON embedded in the image file itself.

JPEG: APP11 segments tagged ``facecomp`` (split in chunks, so large masks fit); PNG: an ``iTXt`` chunk with
keyword ``facecomp``; EXR: a string attribute ``facecomp:metadata``. A faceset therefore survives being
copied, renamed or sorted. Never pickle. Reading a file with missing or damaged metadata raises
:class:`FacecompError` naming the file.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine import atomic
from engine.errors import FacecompError
from engine.faces.facetype import FaceType
from engine.media.image_header import encoded_size
from engine.media.image_io import encode_image, read_image, write_exr

VERSION = 1
FACE_EXTS = (".jpg", ".jpeg", ".png", ".exr")
MAX_META_BYTES = 16 << 20
MAX_MASK_SIDE = 8192  # xseg_mask side; faces are at most a few thousand px
MAX_FACE_FILE_BYTES = 256 << 20  # an aligned face is a few hundred KB; its metadata at most 16 MiB
_JPEG_TAG = b"facecomp\x00"
_PNG_KEY = b"facecomp"
_EXR_ATTR = "facecomp:metadata"
_CHUNK = 65000


@dataclass
class FaceMeta:
    """Everything known about one aligned face (DESIGN.md "Faceset file")."""

    face_type: str
    size: int
    landmarks: np.ndarray  # 68x2, aligned-face pixels
    source_filename: str
    source_frame: int
    source_rect: list[float]  # left, top, right, bottom in frame pixels
    source_landmarks: np.ndarray  # 68x2, frame pixels
    image_to_face_mat: np.ndarray  # 2x3, frame -> aligned face
    face_index: int = 0
    xseg_polys: list[dict[str, Any]] | None = None  # [{"type": "include"|"exclude", "points": [[x, y], ...]}]
    xseg_mask: str | None = None  # PNG bytes, base64
    detector: str | None = None
    landmarker: str | None = None
    eyebrows_expand_mod: float = 1.0
    version: int = VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def type(self) -> FaceType:
        return FaceType.parse(self.face_type)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        extra = d.pop("extra")
        for key in ("landmarks", "source_landmarks", "image_to_face_mat"):
            d[key] = np.asarray(getattr(self, key), np.float64).round(4).tolist()
        d["source_rect"] = [round(float(v), 3) for v in self.source_rect]
        d = {k: v for k, v in d.items() if v is not None}
        d.update(extra)
        return d

    @classmethod
    def from_json(cls, d: Any, path: str | os.PathLike[str] | None = None) -> FaceMeta:
        """Validate and convert parsed JSON; anything malformed is a FacecompError naming ``path``."""
        if not isinstance(d, dict):
            raise FacecompError("faceset metadata is not a JSON object", path)
        required = (
            "face_type",
            "size",
            "landmarks",
            "source_filename",
            "source_frame",
            "source_rect",
            "source_landmarks",
            "image_to_face_mat",
        )
        missing = [k for k in required if k not in d]
        if missing:
            raise FacecompError(f"faceset metadata lacks {', '.join(missing)} (not a facecomp face?)", path)
        try:
            FaceType.parse(d["face_type"])
            lm = _array(d["landmarks"], (68, 2), "landmarks")
            slm = _array(d["source_landmarks"], (68, 2), "source_landmarks")
            mat = _array(d["image_to_face_mat"], (2, 3), "image_to_face_mat")
            rect = [float(v) for v in d["source_rect"]]
            if len(rect) != 4 or not all(np.isfinite(rect)):
                raise ValueError("source_rect must be 4 numbers")
            name = str(d["source_filename"])
            if not name or "/" in name or "\\" in name or name in (".", ".."):
                raise ValueError("source_filename must be a bare file name (it points outside the frames folder)")
            polys = d.get("xseg_polys")
            if polys is not None:
                polys = _check_polys(polys)
            mask = d.get("xseg_mask")
            if mask is not None and not isinstance(mask, str):
                raise ValueError("xseg_mask must be base64 text")
            known = {f for f in cls.__dataclass_fields__ if f != "extra"}
            return cls(
                face_type=FaceType.parse(d["face_type"]).label,
                size=int(d["size"]),
                landmarks=lm,
                source_filename=name,
                source_frame=int(d["source_frame"]),
                source_rect=rect,
                source_landmarks=slm,
                image_to_face_mat=mat,
                face_index=int(d.get("face_index", 0)),
                xseg_polys=polys,
                xseg_mask=mask,
                detector=d.get("detector"),
                landmarker=d.get("landmarker"),
                eyebrows_expand_mod=float(d.get("eyebrows_expand_mod", 1.0)),
                version=int(d.get("version", VERSION)),
                extra={k: v for k, v in d.items() if k not in known},
            )
        except FacecompError:
            raise
        except (TypeError, ValueError, KeyError, OverflowError) as exc:
            raise FacecompError(f"damaged faceset metadata ({str(exc)[:200]})", path) from None


def _array(value: Any, shape: tuple[int, int], name: str) -> np.ndarray:
    a = np.asarray(value, dtype=np.float64)
    if a.shape != shape:
        raise ValueError(f"{name} has shape {a.shape}, expected {shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} has non-finite values")
    return a


def _check_polys(polys: Any) -> list[dict[str, Any]]:
    if not isinstance(polys, list):
        raise ValueError("xseg_polys must be a list")
    out = []
    for p in polys:
        if not isinstance(p, dict) or p.get("type") not in ("include", "exclude"):
            raise ValueError("xseg_polys entries need type include/exclude")
        pts = np.asarray(p.get("points"), np.float64)
        if pts.ndim != 2 or pts.shape[1] != 2 or not np.isfinite(pts).all():
            raise ValueError("xseg_polys points must be Nx2 numbers")
        out.append({"type": p["type"], "points": pts.tolist()})
    return out


# ---- container formats -------------------------------------------------------------------------------


def _jpeg_segments(data: bytes, path: Path) -> list[tuple[int, int, int]]:
    """(marker, start, end) of each header segment before the scan; FacecompError if not a JPEG."""
    if data[:2] != b"\xff\xd8":
        raise FacecompError("not a JPEG file", path)
    pos, segs = 2, []
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise FacecompError("damaged JPEG header", path)
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: headers end
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        segs.append((marker, pos, pos + 2 + length))
        pos += 2 + length
    return segs


def _jpeg_read(data: bytes, path: Path) -> bytes | None:
    chunks: dict[int, bytes] = {}
    for marker, start, end in _jpeg_segments(data, path):
        body = data[start + 4 : end]
        if marker == 0xEB and body.startswith(_JPEG_TAG):
            if len(body) < len(_JPEG_TAG) + 2:
                raise FacecompError("damaged faceset metadata (empty APP11 segment)", path)
            idx = body[len(_JPEG_TAG)]
            chunks[idx] = body[len(_JPEG_TAG) + 2 :]
    if not chunks:
        return None
    return b"".join(chunks[i] for i in sorted(chunks))


def _jpeg_write(data: bytes, payload: bytes, path: Path) -> bytes:
    segs = _jpeg_segments(data, path)
    scan = segs[-1][2] if segs else 2
    keep = [(m, data[s:e]) for m, s, e in segs if not (m == 0xEB and data[s + 4 : e].startswith(_JPEG_TAG))]
    parts = [payload[i : i + _CHUNK] for i in range(0, len(payload), _CHUNK)] or [b""]
    if len(parts) > 255:
        raise FacecompError("faceset metadata too large", path)
    ours = b"".join(
        b"\xff\xeb" + struct.pack(">H", len(_JPEG_TAG) + 2 + len(p) + 2) + _JPEG_TAG + bytes([i, len(parts)]) + p
        for i, p in enumerate(parts)
    )
    last_app = max((i for i, (m, _) in enumerate(keep) if 0xE0 <= m <= 0xEF), default=-1)
    before = b"".join(b for _, b in keep[: last_app + 1])
    after = b"".join(b for _, b in keep[last_app + 1 :])
    return data[:2] + before + ours + after + data[scan:]


def _png_chunks(data: bytes, path: Path) -> list[tuple[bytes, int, int]]:
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise FacecompError("not a PNG file", path)
    pos, out = 8, []
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        out.append((kind, pos, pos + 12 + length))
        pos += 12 + length
        if kind == b"IEND":
            break
    return out


def _png_read(data: bytes, path: Path) -> bytes | None:
    for kind, s, e in _png_chunks(data, path):
        if kind == b"iTXt" and data[s + 8 : e - 4].startswith(_PNG_KEY + b"\x00"):
            body = data[s + 8 : e - 4][len(_PNG_KEY) + 1 :]
            if len(body) < 2:
                raise FacecompError("damaged faceset metadata (empty iTXt chunk)", path)
            compressed, _method = body[0], body[1]
            rest = body[2:]
            _lang, _, rest = rest.partition(b"\x00")
            _tkey, _, text = rest.partition(b"\x00")
            if compressed:
                inflater = zlib.decompressobj()
                try:
                    text = inflater.decompress(text, MAX_META_BYTES + 1)
                except zlib.error:
                    raise FacecompError("damaged faceset metadata (bad zlib data)", path) from None
            return text
    return None


def _png_write(data: bytes, payload: bytes, path: Path) -> bytes:
    chunks = [
        c
        for c in _png_chunks(data, path)
        if not (c[0] == b"iTXt" and data[c[1] + 8 : c[2] - 4].startswith(_PNG_KEY + b"\x00"))
    ]
    body = _PNG_KEY + b"\x00" + b"\x01\x00" + b"\x00" + b"\x00" + zlib.compress(payload, 6)
    chunk = struct.pack(">I", len(body)) + b"iTXt" + body + struct.pack(">I", zlib.crc32(b"iTXt" + body) & 0xFFFFFFFF)
    out = [data[:8]]
    for kind, s, e in chunks:
        if kind == b"IEND":
            out.append(chunk)
        out.append(data[s:e])
    return b"".join(out)


def _exr_read(path: Path) -> bytes | None:
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        raise FacecompError("not a readable EXR", path)
    try:
        value = inp.spec().get_string_attribute(_EXR_ATTR)
    finally:
        inp.close()
    return value.encode("utf-8") if value else None


def _read_capped(path: Path, max_bytes: int) -> bytes:
    """The bytes of ``path``, reading at most ``max_bytes`` (a bigger file is refused, not read)."""
    with open(path, "rb") as f:
        too_big = os.fstat(f.fileno()).st_size > max_bytes
        data = b"" if too_big else f.read(max_bytes + 1)
    if too_big or len(data) > max_bytes:
        raise FacecompError(f"file larger than {max_bytes >> 20} MiB (not an aligned face)", path)
    return data


def read_meta(path: str | os.PathLike[str]) -> FaceMeta:
    """Read and validate the metadata of one face file (pixels are not decoded for JPEG/PNG)."""
    p = Path(path)
    try:
        if p.stat().st_size == 0:
            raise FacecompError("empty file (0 bytes)", p)
        ext = p.suffix.lower()
        if ext == ".exr":
            raw = _exr_read(p)
        else:
            data = _read_capped(p, MAX_FACE_FILE_BYTES)
            if data[:2] == b"\xff\xd8":
                raw = _jpeg_read(data, p)
            elif data[:8] == b"\x89PNG\r\n\x1a\n":
                raw = _png_read(data, p)
            else:
                raise FacecompError("not a JPEG, PNG or EXR face image", p)
    except OSError as exc:
        raise FacecompError(f"cannot read ({exc.strerror})", p) from None
    if raw is None:
        raise FacecompError("no facecomp metadata (not an aligned face; DeepFaceLab faces: use import-dfl)", p)
    if len(raw) > MAX_META_BYTES:
        raise FacecompError("faceset metadata larger than 16 MiB", p)
    try:
        parsed = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise FacecompError("damaged faceset metadata (not valid JSON)", p) from None
    except RecursionError:
        raise FacecompError("damaged faceset metadata (JSON nested too deeply)", p) from None
    return FaceMeta.from_json(parsed, p)


def read_face(path: str | os.PathLike[str]) -> tuple[np.ndarray, FaceMeta]:
    """Pixels (BGR) and metadata of one face file."""
    meta = read_meta(path)
    return read_image(path), meta


def _payload(meta: FaceMeta) -> bytes:
    return json.dumps(meta.to_json(), separators=(",", ":")).encode("utf-8")


def write_face(path: str | os.PathLike[str], image: np.ndarray, meta: FaceMeta, jpeg_quality: int = 95) -> None:
    """Write a face image with its metadata, atomically; the format follows the extension."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in FACE_EXTS:
        raise FacecompError(f"face files must be {', '.join(FACE_EXTS)}", p)
    if ext == ".exr":
        f = image.astype(np.float32) / (255.0 if image.dtype == np.uint8 else 1.0)
        write_exr(p, {"R": f[..., 2], "G": f[..., 1], "B": f[..., 0]}, attributes={_EXR_ATTR: _payload(meta).decode()})
        return
    data = encode_image(image, ext, jpeg_quality)
    data = _png_write(data, _payload(meta), p) if ext == ".png" else _jpeg_write(data, _payload(meta), p)
    atomic.write_bytes(p, data)


def update_meta(path: str | os.PathLike[str], meta: FaceMeta) -> None:
    """Replace a face file's metadata without re-encoding its pixels (JPEG/PNG); atomic."""
    p = Path(path)
    if p.suffix.lower() == ".exr":
        write_face(p, read_image(p), meta)
        return
    data = p.read_bytes()
    new = (
        _png_write(data, _payload(meta), p)
        if data[:8] == b"\x89PNG\r\n\x1a\n"
        else _jpeg_write(data, _payload(meta), p)
    )
    atomic.write_bytes(p, new)


def list_faces(folder: str | os.PathLike[str]) -> list[Path]:
    """Face image files of a faceset folder, in name order; FacecompError if the folder does not exist."""
    d = Path(folder)
    if not d.is_dir():
        raise FacecompError("faceset folder does not exist", d)
    return sorted(
        p for p in d.iterdir() if p.is_file() and p.suffix.lower() in FACE_EXTS and not atomic.is_temporary(p)
    )


def require_faces(folder: str | os.PathLike[str]) -> list[Path]:
    """The face files of a faceset folder that every verb taking a faceset reads: "no face files in FOLDER" when
    there are none (an empty folder, a folder named like an image, a folder of something else)."""
    files = list_faces(folder)
    if not files:
        raise FacecompError(f"no face files in {Path(folder)} (.jpg/.png/.exr faces written by facecomp extract "
                            "or import-dfl faceset)")
    return files


def encode_mask(mask: np.ndarray, compression: int | None = None) -> str:
    """A 0..1 (or uint8) single-channel mask as base64 PNG text for ``xseg_mask``; ``compression`` 0..9 (zlib
    level; None: OpenCV's default, fastest)."""
    m = mask if mask.dtype == np.uint8 else (np.clip(mask, 0, 1) * 255 + 0.5).astype(np.uint8)
    params = [] if compression is None else [cv2.IMWRITE_PNG_COMPRESSION, compression]
    ok, buf = cv2.imencode(".png", m.squeeze(), params)
    if not ok:
        raise FacecompError("cannot encode mask")
    return base64.b64encode(buf.tobytes()).decode("ascii")


def decode_mask(text: str, path: str | os.PathLike[str] | None = None) -> np.ndarray:
    """``xseg_mask`` text back to a float32 HxW mask in 0..1."""
    try:
        buf = np.frombuffer(base64.b64decode(text, validate=True), np.uint8)
        declared = encoded_size(buf[: 1 << 16].tobytes())
        if declared is not None and max(declared) > MAX_MASK_SIDE:  # checked before decoding: no bomb
            raise FacecompError(f"xseg_mask in faceset metadata declares {declared[0]}x{declared[1]} px (at most "
                                f"{MAX_MASK_SIDE}); not decoded", path)
        m = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) if declared else None
    except (ValueError, cv2.error):
        m = None
    if m is None:
        raise FacecompError("damaged xseg_mask in faceset metadata", path)
    return m.astype(np.float32) / 255.0
