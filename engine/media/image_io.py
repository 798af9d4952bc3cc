"""Read and write single images with clear errors.

Images inside the engine are numpy arrays in OpenCV's BGR channel order: uint8 for 8-bit files, float32
for EXR and 16-bit files (0..1 for integer sources). Writes are atomic.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine import atomic
from engine.errors import FacecompError

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".exr", ".tif", ".tiff", ".bmp", ".webp")
MAX_PIXELS = 1 << 28  # 268 Mpx: refuse decompression bombs
EXR_COMPRESSIONS = ("zips", "zip", "piz", "none")  # the lossless OpenEXR compressions write_exr offers


def is_image_file(path: str | os.PathLike[str]) -> bool:
    """True for a file whose extension is one of the image formats we read."""
    return Path(path).suffix.lower() in IMAGE_EXTS and not atomic.is_temporary(path)


Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (end-exclusive) in display-window pixels, y down


class ExrImage:
    """An EXR opened once: its display size from the header (``size``), then its pixels with :meth:`read`,
    all of them or only a box (the scanlines a box covers are the only ones decoded). Close it, or use it
    in a ``with`` block."""

    def __init__(self, path: str | os.PathLike[str]):
        import OpenImageIO as oiio

        self.path = Path(path)
        inp = oiio.ImageInput.open(str(self.path))
        if inp is None:
            raise FacecompError(f"not a readable EXR ({oiio.geterror().strip() or 'unknown format'})", self.path)
        self._inp, self._open = inp, True
        self.spec = spec = inp.spec()
        if max(spec.width * spec.height, spec.full_width * spec.full_height) > MAX_PIXELS:
            self.close()
            raise FacecompError(f"image too large ({spec.full_width}x{spec.full_height})", self.path)
        self.size = (int(spec.full_width), int(spec.full_height))
        # all-half files (the usual plate) are read as stored and widened by OpenCV: faster than OIIO's conversion
        self._half = str(spec.format) == "half" and all(str(f) == "half" for f in spec.channelformats)

    def __enter__(self) -> ExrImage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._open:
            self._inp.close()
            self._open = False

    def read(self, box: Box | None = None) -> np.ndarray:
        """The image as float32 BGR over the display window; with ``box``, only the pixels inside it are read
        (the same values as a full read there) and the rest is 0. NaN/inf pixels become 0."""
        spec = self.spec
        if box is None:
            return self._read_all()
        full = np.zeros((spec.full_height, spec.full_width, 3), np.float32)
        dx, dy = spec.x - spec.full_x, spec.y - spec.full_y  # the data window in display pixels
        x0, y0 = max(box[0], dx, 0), max(box[1], dy, 0)
        x1 = min(box[2], dx + spec.width, spec.full_width)
        y1 = min(box[3], dy + spec.height, spec.full_height)
        if x1 <= x0 or y1 <= y0:
            return full
        if spec.tile_width:  # tiled files are read whole (their tiles are not scanline bands)
            full[y0:y1, x0:x1] = self._read_all()[y0:y1, x0:x1]
            return full
        data = self._inp.read_scanlines(0, 0, y0 + spec.full_y, y1 + spec.full_y, 0, 0, spec.nchannels,
                                        "half" if self._half else "float")
        if data is None or not hasattr(data, "shape"):
            raise FacecompError("EXR pixel data is damaged", self.path)
        rows = np.asarray(data).reshape(y1 - y0, spec.width, spec.nchannels)
        full[y0:y1, x0:x1] = _as_bgr(rows[:, x0 - dx:x1 - dx], spec.channelnames, self._half)
        return full

    def _read_all(self) -> np.ndarray:
        spec = self.spec
        data = self._inp.read_image(0, 0, 0, spec.nchannels, "half" if self._half else "float")
        if data is None or not hasattr(data, "shape"):
            raise FacecompError("EXR pixel data is damaged", self.path)
        pixels = np.asarray(data).reshape(spec.height, spec.width, spec.nchannels)
        return _as_bgr(in_display_window(pixels, spec), spec.channelnames, self._half)


def _as_bgr(data: np.ndarray, channel_names: Any, half: bool) -> np.ndarray:
    """float32 BGR pixels of EXR channels as read (RGB, Y, or the first three): NaN/inf become 0."""
    names = list(channel_names)
    idx = [names.index(c) for c in ("B", "G", "R") if c in names]
    if len(idx) == 3:
        img = data[..., idx]
    elif "Y" in names:
        img = np.repeat(data[..., names.index("Y"), None], 3, axis=2)
    else:
        img = np.repeat(data[..., :1], 3, axis=2) if data.shape[2] < 3 else data[..., 2::-1][..., :3]
    img = _convert(img, cv2.CV_32F) if half else img.astype(np.float32, copy=False)
    bad = ~np.isfinite(img)
    if bad.any():
        img = np.where(bad, 0.0, img).astype(np.float32)  # NaN/inf pixels become black, never poison the math
    return np.ascontiguousarray(img)


def _read_exr(path: Path) -> np.ndarray:
    with ExrImage(path) as exr:
        return exr.read()


def read_image(path: str | os.PathLike[str], keep_alpha: bool = False) -> np.ndarray:
    """Read an image as BGR (or BGRA with ``keep_alpha``); raise FacecompError naming the file if unreadable."""
    p = Path(path)
    if not p.is_file():
        raise FacecompError("no such file", p)
    if p.stat().st_size == 0:
        raise FacecompError("empty file (0 bytes)", p)
    if p.suffix.lower() == ".exr":
        return _read_exr(p)
    buf = np.fromfile(p, np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise FacecompError("not a readable image", p)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4 and not keep_alpha:
        img = img[..., :3]
    if img.dtype == np.uint16:
        img = img.astype(np.float32) / 65535.0
    elif img.dtype not in (np.uint8, np.float32):
        img = img.astype(np.float32)
    if min(img.shape[:2]) < 2:
        raise FacecompError(f"image too small ({img.shape[1]}x{img.shape[0]})", p)
    return np.ascontiguousarray(img)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """uint8 copy of an image (float input is taken as 0..1 and clipped)."""
    if img.dtype == np.uint8:
        return img
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def to_float(img: np.ndarray) -> np.ndarray:
    """float32 0..1 view of an image (uint8 is divided by 255)."""
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    return img.astype(np.float32, copy=False)


def encode_image(img: np.ndarray, ext: str, jpeg_quality: int = 95) -> bytes:
    """Encode an 8-bit image to PNG or JPEG bytes."""
    ext = ext.lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if ext in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(ext, to_uint8(img) if ext != ".png" or img.dtype != np.uint16 else img, params)
    if not ok:
        raise FacecompError(f"cannot encode image as {ext}")
    return buf.tobytes()


def _convert(img: np.ndarray, depth: int) -> np.ndarray:
    """``img`` (HxW or HxWxC) converted to float16 (``cv2.CV_16F``) or float32 (``cv2.CV_32F``) by OpenCV: the
    same values as numpy's ``astype`` (round to nearest even, overflow to inf, NaN kept), several times faster."""
    flat = np.ascontiguousarray(img).reshape(img.shape[0], -1)
    return cv2.multiply(flat, 1.0, dtype=depth).reshape(img.shape)


def _interleave(channels: dict[str, np.ndarray], half: bool) -> np.ndarray:
    """HxWxN pixels of the named channels, in the file's sample type (half or float)."""
    arrays = [np.asarray(c, np.float32) for c in channels.values()]
    h, w = arrays[0].shape[:2]
    if not half:
        return np.stack(arrays, axis=-1)
    # converting here (OpenCV, per channel) and handing OIIO samples it stores as they are is ~3x faster than
    # letting OIIO convert float to half
    return cv2.merge([cv2.multiply(a, 1.0, dtype=cv2.CV_16F) for a in arrays]).reshape(h, w, len(arrays))


def write_exr(path: str | os.PathLike[str], channels: dict[str, np.ndarray], half: bool = True,
              attributes: dict[str, str] | None = None, compression: str = "zips", *,
              data_origin: tuple[int, int] = (0, 0), display_size: tuple[int, int] | None = None) -> None:
    """Write named float channels (each HxW) to one EXR, atomically (half by default).

    ``compression`` is one of :data:`EXR_COMPRESSIONS` (all lossless): ``zips`` (zlib per scanline, the default),
    ``zip`` (zlib per 16 scanlines), ``piz`` (wavelet) or ``none``. Half and 32-bit channels in one file:
    engine.media.exr_parts. ``data_origin`` (x, y) places the arrays (the data window) inside a display window
    of ``display_size`` (w, h; default: the arrays' size), y down as in OpenEXR."""
    import OpenImageIO as oiio

    names = list(channels)
    data = _interleave(channels, half)
    h, w = data.shape[:2]
    spec = exr_spec(names, (w, h), half, attributes, compression, data_origin, display_size)
    with atomic.atomic_path(path) as tmp:
        out = oiio.ImageOutput.create(str(tmp))
        if out is None or not out.open(str(tmp), spec):
            raise FacecompError(f"cannot write EXR ({oiio.geterror().strip()})", path)
        try:
            if not out.write_image(data):
                raise FacecompError(f"cannot write EXR ({out.geterror().strip()})", path)
        finally:
            out.close()


def exr_spec(names: list[str], size: tuple[int, int], half: bool, attributes: dict[str, str] | None,
             compression: str, data_origin: tuple[int, int] = (0, 0),
             display_size: tuple[int, int] | None = None) -> Any:
    """The OIIO ImageSpec of an EXR (part) holding ``names`` over a ``size`` (w, h) data window at
    ``data_origin`` inside a display window of ``display_size`` (default: the data window)."""
    import OpenImageIO as oiio

    if compression not in EXR_COMPRESSIONS:
        raise ValueError(f"EXR compression must be one of {', '.join(EXR_COMPRESSIONS)} (lossless), "
                         f"not {compression!r}")
    w, h = size
    spec = oiio.ImageSpec(w, h, len(names), "half" if half else "float")
    spec.channelnames = tuple(names)
    spec.x, spec.y = data_origin
    spec.full_x, spec.full_y = 0, 0
    spec.full_width, spec.full_height = display_size or (w, h)
    if "A" in names:
        spec.alpha_channel = names.index("A")
    spec.attribute("compression", compression)
    for key, value in (attributes or {}).items():
        spec.attribute(key, value)
    return spec


def read_exr_layers(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Every channel of an EXR (of every part) as float32 HxW over the display window (zero outside the data
    window), and its string attributes. Float channels keep their 32 bits (Cryptomatte ids)."""
    import OpenImageIO as oiio

    p = Path(path)
    inp = oiio.ImageInput.open(str(p))
    if inp is None:
        raise FacecompError(f"not a readable EXR ({oiio.geterror().strip() or 'unknown format'})", p)
    layers: dict[str, np.ndarray] = {}
    attrs: dict[str, str] = {}
    try:
        part = 0
        while inp.seek_subimage(part, 0):  # every part of a multi-part file (facecomp's 32-bit ids part)
            spec = inp.spec()
            if spec.full_width * spec.full_height > MAX_PIXELS or spec.width * spec.height > MAX_PIXELS:
                raise FacecompError(f"image too large ({spec.full_width}x{spec.full_height})", p)
            # an all-half part is read as half and widened by numpy: OIIO's half->float conversion flushes half
            # denormals to zero when the process has denormals flushed (torch.set_flush_denormal, CPU training)
            native = "half" if spec.format == "half" and not spec.channelformats else "float"
            data = inp.read_image(part, 0, 0, spec.nchannels, native)
            if data is None or not hasattr(data, "shape"):
                raise FacecompError("EXR pixel data is damaged", p)
            full = in_display_window(np.asarray(data, np.float32).reshape(spec.height, spec.width, spec.nchannels),
                                     spec)
            layers.update({name: full[..., i] for i, name in enumerate(spec.channelnames)})
            attrs.update({a.name: str(a.value) for a in spec.extra_attribs if isinstance(a.value, str)})
            part += 1
    finally:
        inp.close()
    return layers, attrs


def in_display_window(data: np.ndarray, spec: Any) -> np.ndarray:
    """Pixels of an EXR's data window (HxW or HxWxC, as read) placed in its display window (zeros around)."""
    if (spec.x, spec.y, spec.width, spec.height) == (spec.full_x, spec.full_y, spec.full_width, spec.full_height):
        return data
    full = np.zeros((spec.full_height, spec.full_width, *data.shape[2:]), data.dtype)
    x0, y0 = spec.x - spec.full_x, spec.y - spec.full_y
    fx0, fy0 = max(0, x0), max(0, y0)
    fx1, fy1 = min(spec.full_width, x0 + spec.width), min(spec.full_height, y0 + spec.height)
    if fx1 > fx0 and fy1 > fy0:
        full[fy0:fy1, fx0:fx1] = data[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
    return full


def write_image(path: str | os.PathLike[str], img: np.ndarray, jpeg_quality: int = 95) -> None:
    """Write a BGR(A) image atomically; the format follows the extension (EXR is written as half RGB(A))."""
    p = Path(path)
    if p.suffix.lower() == ".exr":
        f = to_float(img)
        if f.ndim == 2:
            f = f[..., None]
        names = {1: ["Y"], 3: ["B", "G", "R"], 4: ["B", "G", "R", "A"]}[f.shape[2]]
        order = ["R", "G", "B", "A"] if f.shape[2] >= 3 else ["Y"]
        write_exr(p, {n: f[..., names.index(n)] for n in order if n in names})
        return
    atomic.write_bytes(p, encode_image(img, p.suffix, jpeg_quality))
