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
from engine.media.image_io import ExrImage
from engine.media.plate_space import plate_space
from engine.progress import progress
from engine.swap.onnx_model import FaceSwapModel
from engine.swap.outputs import DEFAULT_PASSES, write_passes, write_patches
from engine.swap.paste_face import FaceInput
from engine.swap.pipeline import XSEG_FIX, FrameResult, FrameSwapper, open_xseg
from engine.swap.settings import FrameSettings, MergeSettings
from engine.swap.track import Track

log = logging.getLogger("facecomp")


FaceSelect = str | int | list[str] | tuple[str, ...] | None


def parse_faces(value: FaceSelect) -> str | int | tuple[str, ...]:
    """A face selection: ``all`` (None), ``largest``, face names (``face0,face2`` or a list) or, as before
    names, a face number N (0 = largest in the frame)."""
    if value is None or value == "all":
        return "all"
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    items = value.split(",") if isinstance(value, str) else list(value) if isinstance(value, list | tuple) else None
    if items is None or not all(isinstance(x, str) for x in items):
        raise FacecompError(f"faces {value!r}: use all, largest or face names (face0,face1)")
    names = tuple(x.strip() for x in items if x.strip())
    if not names:
        raise FacecompError("faces: empty selection; use all, largest or face names (face0,face1)")
    if len(names) == 1 and (names[0] in ("all", "largest") or names[0].isdigit()):
        return int(names[0]) if names[0].isdigit() else names[0]
    return names


def select_faces(faces: list[FaceInput], select: FaceSelect = "all") -> list[FaceInput]:
    """The faces of a frame to swap, largest first: ``all`` (the default), ``largest``, the faces with the
    given names, or face N (0 = largest). Faces without a name (no track) are named by size: face0, face1..."""
    ordered = sorted(faces, key=lambda f: -f.size)
    for i, f in enumerate(ordered):
        if f.name is None:
            f.name = f"face{i}"
    choice = parse_faces(select)
    if choice == "all":
        return ordered
    if choice == "largest":
        return ordered[:1]
    if isinstance(choice, int):
        return ordered[choice: choice + 1] if choice >= 0 else []
    return [f for f in ordered if f.name in choice]


def named(select: FaceSelect) -> bool:
    """True when the selection names faces (their matte layers are then written in every frame)."""
    return isinstance(parse_faces(select), tuple)


def shot_face_names(track: Track | None, select: FaceSelect = "all") -> list[str]:
    """The faces of the shot that get a matte layer and a Cryptomatte manifest entry in every frame: the
    track's names (those selected); without a track, none beyond each frame's own faces. Names not in the
    track are an error."""
    if track is None:
        return []
    names = track.face_names
    choice = parse_faces(select)
    if not isinstance(choice, tuple):
        return names
    unknown = [n for n in choice if n not in names]
    if unknown:
        raise FacecompError(f"faces: no face named {', '.join(unknown)} in the track (it has "
                            f"{', '.join(names) or 'no faces'})", track.path)
    return [n for n in names if n in choice]


def default_working_space(path: str | os.PathLike[str] | None, image: np.ndarray) -> str | None:
    """The colour space assumed for a plate when none is given (engine.media.plate_space's rule): an EXR's
    ``oiio:ColorSpace``, else scene-linear (ACEScg) for an EXR; 8-bit and 16-bit images are sRGB (None)."""
    return plate_space(path, image, None)


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
            raise FacecompError(f"mask mode {mode} needs an XSeg model ({XSEG_FIX})")


@dataclass
class FrameReport:
    frame: int
    faces: int
    path: Path
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage (the worker's profile log)


class StageClock:
    """Seconds spent per stage of a frame: ``lap(name)`` closes the stage that began at the previous lap."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.times[name] = self.times.get(name, 0.0) + now - self._last
        self._last = now


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
        self.xseg = open_xseg(xseg_model, provider)
        self.swapper = FrameSwapper(self.model, self.xseg)
        self.provider = provider
        self._extractor: Any = None
        self._tracks: dict[str, tuple[float, Track]] = {}
        self._plates: dict[str, FrameSource] = {}
        log.info("%s", self.model.describe())

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
              face_select: FaceSelect = "all") -> list[FaceInput]:
        """The faces of a frame: from the track if given, else detected in this frame."""
        if track is not None:
            found = track.faces(number, (image.shape[1], image.shape[0]))
        else:
            found = self._detect(image, working_space)
        return select_faces(found, face_select)

    def swap(self, image: np.ndarray, number: int, settings: FrameSettings, track: Track | None,
             working_space: str | None, face_select: FaceSelect = "all") -> FrameResult:
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

    def _read_plate(self, source: FrameSource, frame: int, settings: MergeSettings, track: Track | None,
                    passes: tuple[str, ...], face_select: FaceSelect) -> tuple[np.ndarray, list[FaceInput] | None]:
        """Frame ``frame`` of the plate and, when the track gave them first, its faces. An EXR frame with a
        track, for passes without the merged ``rgba``, is read only in the faces' box
        (:meth:`FrameSwapper.plate_window`; zeros around): the passes come out the same, and most of a plate's
        scanlines are never decoded."""
        path = getattr(source, "files", {}).get(frame)
        if track is None or "rgba" in passes or path is None or path.suffix.lower() != ".exr" or not path.is_file():
            return source.read(frame), None
        with ExrImage(path) as exr:
            faces = select_faces(track.faces(frame, exr.size), face_select)
            return exr.read(self.swapper.plate_window(faces, settings, exr.size)), faces

    def render(self, plate: str | os.PathLike[str] | FrameSource, frame: int, out_path: str | os.PathLike[str],
               settings: Any = None, track: Any = None, working_space: str | None = None,
               passes: tuple[str, ...] = DEFAULT_PASSES, face_select: FaceSelect = "all",
               patches_dir: str | os.PathLike[str] | None = None, origin: str = "bottom-left",
               image: np.ndarray | None = None, exr_layout: str = "parts") -> FrameReport:
        """Render frame ``frame`` of ``plate`` to one EXR of passes at ``out_path`` (stateless; ``exr_layout``:
        :data:`engine.swap.passes.EXR_LAYOUTS`)."""
        clock = StageClock()
        source = self._plate(plate, frame)
        fs, tr = load_settings(settings), self.track(track)
        frame_settings = fs.for_frame(frame)
        clock.lap("settings")
        faces = None
        if image is None:
            image, faces = self._read_plate(source, frame, frame_settings, tr, passes, face_select)
        clock.lap("plate")
        path = getattr(source, "files", {}).get(frame)
        ws = working_space or default_working_space(path, image)
        if faces is None:
            faces = self.faces(frame, image, tr, ws, face_select)
        result = self.swapper.swap(image, faces, frame_settings, ws, compose="rgba" in passes)
        clock.lap("swap")
        attrs = {"oiio:ColorSpace": ws or color.MODEL_SPACE, "facecomp:version": __version__,
                 "facecomp:model": self.model.path.name, "facecomp:face_type": self.model.face_type.label,
                 "facecomp:ocio_config": color.CONFIG_URI, "facecomp:faces": str(result.faces)}
        names = shot_face_names(tr, face_select)
        write_passes(out_path, result, passes, attrs, names, names if named(face_select) else (),
                     layout=exr_layout)
        clock.lap("passes")
        if patches_dir is not None:
            write_patches(patches_dir, frame, Path(out_path).name.split(".exr")[0], result, origin, ws)
            clock.lap("patches")
        return FrameReport(frame, result.faces, Path(out_path), clock.times)


def render_range(model_path: str | os.PathLike[str], plate: str | os.PathLike[str], frames: list[int] | None,
                 out_pattern: str, settings: Any = None, track: str | os.PathLike[str] | None = None,
                 working_space: str | None = None, provider: str | None = None,
                 passes: tuple[str, ...] = DEFAULT_PASSES, face_select: FaceSelect = "all",
                 face_type: str | None = None,
                 xseg_model: str | os.PathLike[str] | None = None, patches_dir: str | os.PathLike[str] | None = None,
                 origin: str = "bottom-left", renderer: Renderer | None = None,
                 exr_layout: str = "parts") -> RenderReport:
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
    shot_face_names(tr, face_select)  # an unknown face name fails before any work
    report = RenderReport(providers=list(r.providers))
    todo = set(wanted)
    frames_iter = ((f.number, f.image) for f in source if f.number in todo) if not hasattr(source, "files") else \
        ((n, None) for n in wanted)
    for number, image in progress(frames_iter, total=len(wanted), desc="render", unit="frame"):
        out = format_pattern(str(out_pattern), number)
        rep = r.render(source, number, out, fs, tr, working_space, passes, face_select, patches_dir, origin, image,
                       exr_layout)
        report.frames.append(number)
        report.faces += rep.faces
        report.outputs.append(rep.path)
    report.seconds = time.perf_counter() - start
    return report
