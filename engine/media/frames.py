"""Frame sources: a video (PyAV), a folder of images, a printf/hash pattern (``plate.%04d.exr``,
``plate.####.exr``) or one image. Every frame carries its number: 1-based for video (DeepFaceLab's
``00001.png`` naming), the file's own number for sequences, so plate frame numbers are kept.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from engine.errors import FacecompError
from engine.media.image_io import is_image_file, read_image

_NUM = re.compile(r"(\d+)(?!.*\d)")
_PRINTF = re.compile(r"%0?(\d*)d")
_HASHES = re.compile(r"#+")


@dataclass
class Frame:
    """One frame: its number, a name for outputs derived from it, the source file if any, and pixels."""

    number: int
    name: str
    image: np.ndarray
    path: Path | None = None


def frame_number(path: str | os.PathLike[str]) -> int | None:
    """The last run of digits in a file's stem, or None (``plate.1001.exr`` -> 1001)."""
    m = _NUM.search(Path(path).stem)
    return int(m.group(1)) if m else None


def is_pattern(spec: str) -> bool:
    """True for a printf (``%04d``) or hash (``####``) sequence pattern."""
    return bool(_PRINTF.search(spec) or _HASHES.search(Path(spec).name))


def format_pattern(pattern: str, number: int) -> str:
    """Fill a printf or hash pattern with a frame number (``a.%04d.exr``, 7 -> ``a.0007.exr``)."""
    if _PRINTF.search(pattern):
        return pattern % number if "%" in pattern else pattern
    return _HASHES.sub(lambda m: str(number).zfill(len(m.group(0))), pattern)


class ImageSequence:
    """Numbered image files; ``read(n)`` gives frame n's pixels."""

    def __init__(self, files: dict[int, Path], origin: str):
        if not files:
            raise FacecompError("no image frames found", origin)
        self.files = dict(sorted(files.items()))
        self.origin = origin
        self.fps: Fraction | None = None

    @property
    def numbers(self) -> list[int]:
        return list(self.files)

    def __len__(self) -> int:
        return len(self.files)

    def name(self, number: int) -> str:
        return self.files[number].stem

    def read(self, number: int) -> np.ndarray:
        if number not in self.files:
            raise FacecompError(f"frame {number} not in the sequence", self.origin)
        return read_image(self.files[number])

    def __iter__(self) -> Iterator[Frame]:
        for n, p in self.files.items():
            yield Frame(n, p.stem, read_image(p), p)


def _sequence_from_folder(folder: Path) -> ImageSequence:
    files: dict[int, Path] = {}
    images = sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p))
    for i, p in enumerate(images, 1):
        n = frame_number(p)
        files[n if n is not None and n not in files else -i] = p
    if any(n < 0 for n in files):  # names without usable numbers: number by sorted order instead
        files = {i: p for i, p in enumerate(images, 1)}
    return ImageSequence(files, str(folder))


def _sequence_from_pattern(spec: str) -> ImageSequence:
    p = Path(spec)
    name = p.name
    m = _PRINTF.search(name)
    if m:
        width = m.group(1)
        digits = rf"\d{{{int(width)}}}" if width else r"\d+"
        regex = re.escape(name[: m.start()]) + f"({digits})" + re.escape(name[m.end() :])
    else:
        h = _HASHES.search(name)
        assert h is not None
        regex = re.escape(name[: h.start()]) + rf"(\d{{{len(h.group(0))},}})" + re.escape(name[h.end() :])
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise FacecompError("folder of the sequence does not exist", folder)
    rx = re.compile(regex + "$")
    files = {}
    for f in folder.iterdir():
        mm = rx.match(f.name)
        if mm and f.is_file():
            files[int(mm.group(1))] = f
    return ImageSequence(files, spec)


class VideoSource:
    """A video decoded with PyAV; frames are numbered 1..N. ``fps`` picks a lower rate (DFL's extract --fps)."""

    def __init__(self, path: Path, fps: float | None = None):
        import av

        self.path = path
        if not path.is_file():
            raise FacecompError("no such file", path)
        if path.stat().st_size == 0:
            raise FacecompError("empty file (0 bytes)", path)
        try:
            with av.open(str(path)) as c:
                if not c.streams.video:
                    raise FacecompError("no video stream", path)
                s = c.streams.video[0]
                self.fps = s.average_rate or s.guessed_rate
                self.declared = int(s.frames or 0)
                self.width, self.height = s.codec_context.width, s.codec_context.height
        except av.error.FFmpegError as exc:
            raise FacecompError(f"not a readable video ({exc.strerror or type(exc).__name__})", path) from None
        self.target_fps = fps
        self._count: int | None = None

    def __len__(self) -> int:
        if self._count is None:
            self._count = sum(1 for _ in self._decode(pixels=False))
        return self._count

    @property
    def numbers(self) -> list[int]:
        return list(range(1, len(self) + 1))

    def name(self, number: int) -> str:
        return f"{number:05d}"

    def _decode(self, pixels: bool = True) -> Iterator[np.ndarray | None]:
        import av

        step = None
        if self.target_fps and self.fps and self.target_fps < float(self.fps):
            step = 1.0 / self.target_fps
        next_t = 0.0
        got = 0
        try:
            with av.open(str(self.path)) as c:
                stream = c.streams.video[0]
                stream.thread_type = "AUTO"
                for fr in c.decode(stream):
                    if step is not None:
                        t = float(fr.time) if fr.time is not None else got / float(self.fps)
                        if t + 1e-6 < next_t:
                            continue
                        next_t += step
                    got += 1
                    yield fr.to_ndarray(format="bgr24") if pixels else None
        except av.error.FFmpegError as exc:
            raise FacecompError(
                f"video is damaged or truncated ({exc.strerror or type(exc).__name__})", self.path
            ) from None
        if got == 0:
            raise FacecompError("no decodable video frames (empty or truncated)", self.path)
        if step is None and self.declared and got < 0.98 * self.declared:
            raise FacecompError(f"video is truncated: {got} of {self.declared} frames decodable", self.path)

    def __iter__(self) -> Iterator[Frame]:
        for i, img in enumerate(self._decode(), 1):
            assert img is not None
            yield Frame(i, f"{i:05d}", img)

    def read(self, number: int) -> np.ndarray:
        for f in self:
            if f.number == number:
                return f.image
        raise FacecompError(f"frame {number} not in the video", self.path)


FrameSource = ImageSequence | VideoSource


def open_frames(spec: str | os.PathLike[str], fps: float | None = None) -> FrameSource:
    """Open a video, image folder, sequence pattern or single image as a numbered frame source."""
    s = os.fspath(spec)
    p = Path(s)
    if p.is_dir():
        return _sequence_from_folder(p)
    if is_pattern(s) and not p.exists():
        return _sequence_from_pattern(s)
    if p.is_file() and is_image_file(p):
        n = frame_number(p)
        return ImageSequence({n if n is not None else 1: p}, s)
    if not p.exists():
        raise FacecompError("no such file or folder", p)
    return VideoSource(p, fps)


MAX_FPS = 1000


def extract_frames(
    spec: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    fps: float | None = None,
    fmt: str = "png",
    jpeg_quality: int = 95,
    exr_space: str = "ACEScg",
    overwrite: bool = False,
) -> int:
    """Write every frame of ``spec`` to ``out_dir`` as ``%05d.<fmt>``; returns the count.

    Frames are decoded into a hidden staging folder and moved in only when all decoded, so a damaged or
    truncated video leaves nothing half-written.
    """
    import shutil
    import tempfile

    from engine.media import color
    from engine.media.image_io import to_float, write_exr, write_image
    from engine.progress import progress

    if fps is not None and not 0 < fps <= MAX_FPS:
        raise FacecompError(f"fps {fps:g} outside the valid range: more than 0, at most {MAX_FPS} frames per second")
    source = open_frames(spec, fps)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    old = [p for p in out.iterdir() if p.is_file() and is_image_file(p)]
    if old and not overwrite:
        raise FacecompError(f"already holds {len(old)} frames (use --overwrite to replace them)", out)
    stage = Path(tempfile.mkdtemp(prefix=".facecomp-frames-", dir=out))
    try:
        count = 0
        for frame in progress(source, desc="frames", unit="frame"):
            target = stage / f"{frame.number:05d}.{fmt}"
            if fmt == "exr":
                img = frame.image
                linear = color.convert(to_float(img), color.MODEL_SPACE, exr_space) if img.dtype == np.uint8 else img
                write_exr(
                    target,
                    {"R": linear[..., 2], "G": linear[..., 1], "B": linear[..., 0]},
                    attributes={"oiio:ColorSpace": exr_space},
                )
            else:
                write_image(target, frame.image, jpeg_quality)
            count += 1
        for p in old:
            p.unlink()
        for p in sorted(stage.iterdir()):
            os.replace(p, out / p.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return count
