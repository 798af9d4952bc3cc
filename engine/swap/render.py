"""Stateless frame rendering to EXR passes: what `facecomp render`, the worker and the host plugins call.

The output of a frame depends only on that frame, the model, the settings and the shot's track: with a track
the landmarks come from it, without one faces are detected in that frame alone. So a farm may split a shot
into any frame ranges and get the same pixels as one full render.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine import __version__
from engine.errors import FacecompError
from engine.media import color
from engine.media.frames import FrameSource, format_pattern, open_frames
from engine.progress import progress
from engine.swap.onnx_model import FaceSwapModel
from engine.swap.outputs import PASSES, write_passes, write_patches
from engine.swap.paste_face import FaceInput
from engine.swap.pipeline import FrameResult, FrameSwapper
from engine.swap.settings import FrameSettings
from engine.swap.track import Track

log = logging.getLogger("facecomp")


def select_faces(faces: list[FaceInput], select: str | int = "largest") -> list[FaceInput]:
    """``largest`` (the default), ``all``, or face N (0 = largest) of a frame, largest first."""
    ordered = sorted(faces, key=lambda f: -f.size)
    if select in ("all", None):
        return ordered
    if select == "largest":
        return ordered[:1]
    try:
        n = int(select)
    except (TypeError, ValueError):
        raise FacecompError(f"face selection {select!r}: use largest, all or a face number") from None
    return ordered[n: n + 1] if n >= 0 else []


def default_working_space(path: str | os.PathLike[str] | None, image: np.ndarray) -> str | None:
    """The colour space assumed for a plate when none is given: 8-bit and 16-bit integer images are sRGB
    (None = the model's space), EXR plates are scene-linear (the config's ``scene_linear`` role, ACEScg)."""
    if image.dtype == np.uint8 or path is None or Path(path).suffix.lower() != ".exr":
        return None
    return color.resolve_name("scene_linear")


def load_settings(settings: str | os.PathLike[str] | dict[str, Any] | FrameSettings | None,
                  flags: dict[str, Any] | None = None, flags_origin: str | None = None) -> FrameSettings:
    """Settings from a file path, a dict (as in a settings file) or a FrameSettings (used as it is: checked
    already); None = DFL defaults. ``flags`` go on top; ``flags_origin`` names them in errors (default: the
    option's command-line flag)."""
    if isinstance(settings, FrameSettings):
        return settings.with_flags(flags, flags_origin)
    if isinstance(settings, dict):
        return FrameSettings.create(settings, origin="settings").with_flags(flags, flags_origin)
    return FrameSettings.load(settings).with_flags(flags, flags_origin)


def check_xseg(settings: FrameSettings, renderer: Renderer) -> None:
    """Fail before any work when a mask mode needs an XSeg model and none was given."""
    starts = [0] + [first for first, _, _ in settings.ranges]
    for n in starts:
        mode = settings.for_frame(n).mask_mode
        if "XSeg-prd" in mode and renderer.xseg is None:
            raise FacecompError(f"mask mode {mode} needs an XSeg model: give --xseg-model xseg.onnx")


@dataclass
class FrameReport:
    frame: int
    faces: int
    path: Path


@dataclass
class RenderReport:
    """What a render did: frames written, faces swapped, seconds, the ORT providers in use."""

    frames: list[int] = field(default_factory=list)
    faces: int = 0
    seconds: float = 0.0
    providers: list[str] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)


class Renderer:
    """Keeps a model (and its XSeg model, detector, settings and track files) loaded for repeated frames."""

    def __init__(self, model_path: str | os.PathLike[str], provider: str | None = None, face_type: str | None = None,
                 xseg_model: str | os.PathLike[str] | None = None, threads: int | None = None):
        self.model = FaceSwapModel(model_path, provider, face_type, threads)
        self.xseg = self._xseg(xseg_model, provider)
        self.swapper = FrameSwapper(self.model, self.xseg)
        self.provider = provider
        self._extractor: Any = None
        self._tracks: dict[str, tuple[float, Track]] = {}
        self._plates: dict[str, FrameSource] = {}
        log.info("%s", self.model.describe())

    @staticmethod
    def _xseg(path: str | os.PathLike[str] | None, provider: str | None) -> Any:
        """An XSeg model (exported .onnx or a trained model folder) for the XSeg mask modes."""
        if path is None:
            return None
        from engine.xseg.apply import XSegApplier

        if not Path(path).exists():
            raise FacecompError("no such XSeg model", path)
        return XSegApplier(path, providers=None if provider in (None, "auto") else provider)

    @property
    def providers(self) -> list[str]:
        return self.model.providers

    def track(self, path: str | os.PathLike[str] | Track | None) -> Track | None:
        """A track loaded once per file version (the worker may be handed a re-computed track)."""
        if path is None or isinstance(path, Track):
            return path
        key = os.fspath(path)
        try:
            mtime = os.stat(key).st_mtime
        except OSError:
            raise FacecompError("no such track file", key) from None
        cached = self._tracks.get(key)
        if cached is None or cached[0] != mtime:
            self._tracks[key] = (mtime, Track.load(key))
        return self._tracks[key][1]

    def _detect(self, image: np.ndarray, working_space: str | None) -> list[FaceInput]:
        if self._extractor is None:
            try:
                from engine.faces.extract_faceset import FaceExtractor
            except ImportError:
                raise FacecompError("face detection is not available; give a track (--track)") from None
            self._extractor = FaceExtractor(self.provider)
        u8 = color.to_model_space(image, working_space)
        return [FaceInput(np.asarray(d.landmarks, np.float64), np.asarray(d.rect, np.float64))
                for d in self._extractor.detect(u8)]

    def faces(self, number: int, image: np.ndarray, track: Track | None, working_space: str | None,
              face_select: str | int = "largest") -> list[FaceInput]:
        """The faces of a frame: from the track if given, else detected in this frame."""
        if track is not None:
            found = track.faces(number, (image.shape[1], image.shape[0]))
        else:
            found = self._detect(image, working_space)
        return select_faces(found, face_select)

    def swap(self, image: np.ndarray, number: int, settings: FrameSettings, track: Track | None,
             working_space: str | None, face_select: str | int = "largest") -> FrameResult:
        """Swap one frame already in memory."""
        faces = self.faces(number, image, track, working_space, face_select)
        return self.swapper.swap(image, faces, settings.for_frame(number), working_space)

    def _plate(self, plate: str | os.PathLike[str] | FrameSource, frame: int) -> FrameSource:
        """The plate's frame source, listed once and listed again when asked for a frame it lacks (new files)."""
        if not isinstance(plate, str | os.PathLike):
            return plate
        key = os.fspath(plate)
        if key not in self._plates or frame not in self._plates[key].numbers:
            self._plates[key] = open_frames(key)
        return self._plates[key]

    def render(self, plate: str | os.PathLike[str] | FrameSource, frame: int, out_path: str | os.PathLike[str],
               settings: Any = None, track: Any = None, working_space: str | None = None,
               passes: tuple[str, ...] = PASSES, face_select: str | int = "largest",
               patches_dir: str | os.PathLike[str] | None = None, origin: str = "bottom-left",
               image: np.ndarray | None = None) -> FrameReport:
        """Render frame ``frame`` of ``plate`` to one EXR of passes at ``out_path`` (stateless)."""
        source = self._plate(plate, frame)
        if image is None:
            image = source.read(frame)
        path = getattr(source, "files", {}).get(frame)
        ws = working_space or default_working_space(path, image)
        result = self.swap(image, frame, load_settings(settings), self.track(track), ws, face_select)
        attrs = {"oiio:ColorSpace": ws or color.MODEL_SPACE, "facecomp:version": __version__,
                 "facecomp:model": self.model.path.name, "facecomp:face_type": self.model.face_type.label,
                 "facecomp:ocio_config": color.CONFIG_URI, "facecomp:faces": str(result.faces)}
        write_passes(out_path, result, passes, attrs)
        if patches_dir is not None:
            write_patches(patches_dir, frame, Path(out_path).name.split(".exr")[0], result, origin, ws)
        return FrameReport(frame, result.faces, Path(out_path))


def render_range(model_path: str | os.PathLike[str], plate: str | os.PathLike[str], frames: list[int] | None,
                 out_pattern: str, settings: Any = None, track: str | os.PathLike[str] | None = None,
                 working_space: str | None = None, provider: str | None = None, passes: tuple[str, ...] = PASSES,
                 face_select: str | int = "largest", face_type: str | None = None,
                 xseg_model: str | os.PathLike[str] | None = None, patches_dir: str | os.PathLike[str] | None = None,
                 origin: str = "bottom-left", renderer: Renderer | None = None) -> RenderReport:
    """Render ``frames`` (None: all) of ``plate`` to ``out_pattern`` (``faceswap.%04d.exr``), one EXR per frame."""
    start = time.perf_counter()
    if not any(tok in str(out_pattern) for tok in ("%", "#")):
        raise FacecompError("output must be a frame pattern such as faceswap.%04d.exr", out_pattern)
    if Path(out_pattern).suffix.lower() != ".exr":
        raise FacecompError("passes are written as EXR: end the output pattern with .exr", out_pattern)
    r = renderer or Renderer(model_path, provider, face_type, xseg_model)
    source = open_frames(plate)
    wanted = list(source.numbers) if frames is None else list(frames)
    missing = sorted(set(wanted) - set(source.numbers))
    if missing:
        raise FacecompError(f"frame(s) {', '.join(map(str, missing[:5]))} not in the plate "
                            f"({min(source.numbers)}-{max(source.numbers)})", plate)
    fs = load_settings(settings)
    check_xseg(fs, r)
    tr = r.track(track)
    report = RenderReport(providers=list(r.providers))
    todo = set(wanted)
    frames_iter = ((f.number, f.image) for f in source if f.number in todo) if not hasattr(source, "files") else \
        ((n, None) for n in wanted)
    for number, image in progress(frames_iter, total=len(wanted), desc="render", unit="frame"):
        out = format_pattern(str(out_pattern), number)
        rep = r.render(source, number, out, fs, tr, working_space, passes, face_select, patches_dir, origin, image)
        report.frames.append(number)
        report.faces += rep.faces
        report.outputs.append(rep.path)
    report.seconds = time.perf_counter() - start
    return report
