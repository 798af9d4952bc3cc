"""Frames -> video with PyAV (no ffmpeg executable): H.264 MP4 (yuv420p, DFL's result.mp4) or ProRes 4444 MOV with
alpha. Frame rate and audio come from a reference video (the audio packets are copied untouched when the
container takes them, else re-encoded to AAC 192 kbit/s as DFL does); one output frame per input frame.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from engine import atomic
from engine.errors import FacecompError
from engine.media.color import to_model_space
from engine.media.frames import ImageSequence, open_frames
from engine.media.image_io import read_image
from engine.progress import progress

log = logging.getLogger("facecomp")

CODECS = ("h264", "prores4444")
DEFAULT_FPS = 25  # DFL's default when there is no reference
DEFAULT_BITRATE = 16.0  # Mbit/s, DFL's video-from-sequence default
_REMUX = {".mp4": {"aac", "mp3", "ac3", "eac3", "alac", "opus"},
          ".mov": {"aac", "mp3", "ac3", "alac", "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le"}}


@dataclass
class VideoReport:
    path: Path
    frames: int
    fps: Fraction
    audio: str | None  # "copied", "re-encoded" or None


def probe_reference(path: str | os.PathLike[str]) -> tuple[Fraction | None, bool]:
    """(frame rate, has audio) of a reference video; FacecompError if it cannot be read."""
    import av

    p = Path(path)
    if not p.is_file():
        raise FacecompError("no such reference video", p)
    try:
        with av.open(str(p)) as c:
            rate = c.streams.video[0].average_rate if c.streams.video else None
            return (Fraction(rate) if rate else None), bool(c.streams.audio)
    except av.error.FFmpegError as exc:
        raise FacecompError(f"not a readable video ({exc.strerror or type(exc).__name__})", p) from None


def _even(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return img
    return np.pad(img, ((0, h % 2), (0, w % 2)) + ((0, 0),) * (img.ndim - 2), mode="edge")


def _to8(img: np.ndarray, working_space: str | None) -> np.ndarray:
    return img if img.dtype == np.uint8 else to_model_space(img, working_space)


def _copy_audio(reference: Path, out, suffix: str) -> tuple[str | None, object, object]:
    """Add the reference's audio to ``out``: (how, input container, output stream) or (None, None, None)."""
    import av

    src = av.open(str(reference))
    if not src.streams.audio:
        src.close()
        return None, None, None
    a = src.streams.audio[0]
    if a.codec_context.name in _REMUX.get(suffix, set()):
        return "copied", src, out.add_stream_from_template(a)
    stream = out.add_stream("aac", rate=48000)
    stream.bit_rate = 192_000
    return "re-encoded", src, stream


def _mux_audio(how: str, src, stream, out) -> None:
    import av

    a = src.streams.audio[0]
    if how == "copied":
        for packet in src.demux(a):
            if packet.dts is None:
                continue
            packet.stream = stream
            out.mux(packet)
        return
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=48000)
    for frame in src.decode(a):
        for r in resampler.resample(frame):
            r.pts = None
            out.mux(stream.encode(r))
    out.mux(stream.encode(None))


def write_video(frames_spec: str | os.PathLike[str], out_path: str | os.PathLike[str],
                reference: str | os.PathLike[str] | None = None, fps: float | None = None, codec: str | None = None,
                bitrate: float | None = None, alpha: str | os.PathLike[str] | None = None,
                working_space: str | None = None) -> VideoReport:
    """Encode every frame of ``frames_spec`` (in frame-number order) to ``out_path`` atomically.

    ``codec``: h264 (default for .mp4) or prores4444 (default for .mov; alpha from ``alpha`` mask frames
    matched by name, else from the frames' own alpha, else from the frames themselves when they are grey masks).
    """
    import av

    out = Path(out_path)
    suffix = out.suffix.lower()
    codec = codec or ("prores4444" if suffix == ".mov" else "h264")
    if codec not in CODECS:
        raise FacecompError(f"unknown codec {codec!r}; use {', '.join(CODECS)}")
    if codec == "prores4444" and suffix != ".mov":
        raise FacecompError("ProRes 4444 is written to a .mov file", out)
    if suffix not in (".mp4", ".mov", ".mkv"):
        raise FacecompError("output must be .mp4, .mov or .mkv", out)
    source = open_frames(frames_spec)
    if not isinstance(source, ImageSequence):
        raise FacecompError("frames must be an image folder or pattern", frames_spec)
    ref_fps, has_audio = probe_reference(reference) if reference else (None, False)
    rate = Fraction(fps).limit_denominator(1001) if fps else (ref_fps or Fraction(DEFAULT_FPS))
    alpha_src = open_frames(alpha) if alpha else None
    first = read_image(source.files[source.numbers[0]], keep_alpha=True)
    height, width = _even(first).shape[:2]
    grey_masks = first.ndim == 3 and first.shape[2] == 3 and np.array_equal(first[..., 0], first[..., 2]) and \
        np.array_equal(first[..., 0], first[..., 1])
    audio_how = None
    with atomic.atomic_path(out) as tmp:
        container = av.open(str(tmp), "w")
        try:
            if codec == "h264":
                stream = container.add_stream("libx264", rate=rate)
                stream.pix_fmt = "yuv420p"
                stream.bit_rate = int((bitrate or DEFAULT_BITRATE) * 1_000_000)
            else:
                stream = container.add_stream("prores_ks", rate=rate)
                stream.pix_fmt = "yuva444p10le"
                stream.options = {"profile": "4444", "alpha_bits": "16"}
            stream.width, stream.height = width, height
            audio_src: Any = None
            audio_stream: Any = None
            if has_audio:
                audio_how, audio_src, audio_stream = _copy_audio(Path(reference), container, suffix)  # type: ignore[arg-type]
            count = 0
            for i, n in enumerate(progress(source.numbers, total=len(source), desc="video", unit="frame")):
                img = read_image(source.files[n], keep_alpha=True)
                frame = _video_frame(img, n, source, alpha_src, grey_masks, codec, working_space, width, height)
                frame.pts = i
                for packet in stream.encode(frame):
                    container.mux(packet)
                count += 1
            for packet in stream.encode(None):
                container.mux(packet)
            if audio_src is not None:
                _mux_audio(audio_how, audio_src, audio_stream, container)  # type: ignore[arg-type]
                audio_src.close()
        except av.error.FFmpegError as exc:
            raise FacecompError(f"video encoding failed ({exc.strerror or type(exc).__name__})", out) from None
        finally:
            container.close()
    return VideoReport(out, count, rate, audio_how)


def _video_frame(img: np.ndarray, n: int, source: ImageSequence, alpha_src, grey: bool, codec: str,
                 working_space: str | None, width: int, height: int):
    import av

    colour = _even(_to8(img[..., :3] if img.ndim == 3 else img, working_space))
    if colour.shape[:2] != (height, width):
        raise FacecompError(f"frame is {colour.shape[1]}x{colour.shape[0]}, the first frame is {width}x{height}",
                            source.files[n])
    if codec == "h264":
        return av.VideoFrame.from_ndarray(np.ascontiguousarray(colour), format="bgr24")
    if alpha_src is not None:
        if n not in alpha_src.numbers:
            raise FacecompError(f"no alpha frame {n}", alpha_src.origin)
        a = _even(_to8(alpha_src.read(n), None))[..., 0]
    elif img.ndim == 3 and img.shape[2] == 4:
        a = _even(img[..., 3] if img.dtype == np.uint8 else (np.clip(img[..., 3], 0, 1) * 255).astype(np.uint8))
    elif grey:
        a = colour[..., 0]
    else:
        a = np.full(colour.shape[:2], 255, np.uint8)
    rgba = np.dstack([colour[..., ::-1], a]).astype(np.uint16) * 257
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(rgba), format="rgba64le")
