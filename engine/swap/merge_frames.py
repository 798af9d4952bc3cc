"""`facecomp merge`: DeepFaceLab's merger over a folder of frames, resumable, plus single-frame previews.

Outputs per frame (same stem as the frame): ``<out>/<stem>.png`` (``.exr`` for float plates), the mask
``<mask_out>/<stem>.png``, optionally the EXR passes ``<passes_out>/<stem>.exr`` and patches
``<passes_out>/patches/``. Every file is written atomically.

Session (DFL's merger session): ``<out>.session.jsonl`` beside the output folder, one header line (model
fingerprint) then one line per finished frame with the hash of its settings. Run again and frames already
finished with the same model and settings, whose files all exist, are skipped; a changed model recomputes
everything, a changed setting recomputes the frames it covers.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine import atomic
from engine.errors import FacecompError
from engine.media import color
from engine.media.frames import FrameSource, open_frames
from engine.media.image_io import encode_image, to_uint8
from engine.progress import progress
from engine.swap import outputs
from engine.swap.pipeline import FrameResult
from engine.swap.render import FaceSelect, Renderer, check_xseg, default_working_space, named, shot_face_names
from engine.swap.settings import FrameSettings
from engine.swap.track import Track
from engine.swap.track_build import build_track

log = logging.getLogger("facecomp")
SESSION_FORMAT = "facecomp-merge-session"


@dataclass
class MergeJob:
    """Everything `facecomp merge` needs (paths and options as given on the command line)."""

    model: Path
    frames: Path
    out: Path
    aligned: Path | None = None
    track: Path | None = None
    mask_out: Path | None = None
    passes_out: Path | None = None
    settings: FrameSettings = field(default_factory=lambda: FrameSettings.create())
    working_space: str | None = None
    provider: str | None = None
    face_type: str | None = None
    xseg_model: Path | None = None
    face_select: FaceSelect = "all"
    passes: tuple[str, ...] = outputs.DEFAULT_PASSES
    exr_layout: str = "parts"  # of the pass files: outputs.EXR_LAYOUTS
    workers: int = 0
    restart: bool = False
    origin: str = "bottom-left"


@dataclass
class MergeReport:
    frames: int = 0
    merged: int = 0
    skipped: int = 0
    faces: int = 0
    seconds: float = 0.0
    providers: list[str] = field(default_factory=list)


class _ResumeLog:
    """The append-only log of finished frames (a torn last line is ignored)."""

    def __init__(self, path: Path, model_key: str, restart: bool):
        self.path = path
        self.lock = threading.Lock()
        self.done: dict[str, str] = {}
        header = {"format": SESSION_FORMAT, "version": 1, "model": model_key}
        lines = []
        if path.exists() and not restart:
            lines = path.read_text("utf-8", errors="replace").splitlines()
        head = _json(lines[0]) if lines else None
        if head and head.get("model") == model_key:
            for line in lines[1:]:
                entry = _json(line)
                if entry and "name" in entry:
                    self.done[str(entry["name"])] = str(entry.get("settings", ""))
        else:
            if lines:
                log.info("model or session changed: all frames are merged again")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(header) + "\n", "utf-8")

    def finished(self, name: str, key: str) -> None:
        with self.lock, open(self.path, "a", encoding="utf-8") as f:  # a lost last line only redoes that frame
            f.write(json.dumps({"name": name, "settings": key}) + "\n")


def _json(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class Merger:
    """Runs a MergeJob: frames in parallel threads, outputs written atomically, session kept."""

    def __init__(self, job: MergeJob):
        self.job = job
        workers = job.workers or min(4, os.cpu_count() or 1)
        self.workers = max(1, workers)
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        self.renderer = Renderer(job.model, job.provider, job.face_type, job.xseg_model, threads=threads)
        check_xseg(job.settings, self.renderer)
        self.source: FrameSource = open_frames(job.frames)
        self.track = self._track()
        self.face_names = shot_face_names(self.track, job.face_select)  # an unknown name fails before any work

    def _track(self) -> Track | None:
        if self.job.track is not None:
            return Track.load(self.job.track)
        if self.job.aligned is not None:
            if not self.job.aligned.is_dir():
                raise FacecompError("aligned faceset folder does not exist", self.job.aligned)
            return build_track(self.job.frames, self.job.aligned, smooth=False, detect_cut=False,
                               identities=self.job.passes_out is not None)
        log.info("no --aligned faces or --track: detecting faces in every frame")
        return None

    def _outputs(self, number: int, name: str) -> dict[str, Path]:
        j = self.job
        plate_file = getattr(self.source, "files", {}).get(number)
        ext = "exr" if plate_file is not None and plate_file.suffix.lower() == ".exr" else "png"
        files = {"merged": j.out / f"{name}.{ext}"}
        if j.mask_out is not None:
            files["mask"] = j.mask_out / f"{name}.png"
        if j.passes_out is not None:
            files["passes"] = j.passes_out / f"{name}.exr"
            files["patches"] = j.passes_out / "patches" / f"{name}.json"
        return files

    def _working_space(self, number: int, image: np.ndarray) -> str | None:
        return self.job.working_space or default_working_space(getattr(self.source, "files", {}).get(number), image)

    def process(self, number: int, image: np.ndarray) -> FrameResult:
        """Swap one frame (no writing)."""
        ws = self._working_space(number, image)
        faces = self.renderer.faces(number, image, self.track, ws, self.job.face_select)
        return self.renderer.swapper.swap(image, faces, self.job.settings.for_frame(number), ws)

    def _write(self, number: int, name: str, image: np.ndarray) -> int:
        result = self.process(number, image)
        files = self._outputs(number, name)
        ws = self._working_space(number, image)
        if "mask" in files:
            outputs.write_mask(files["mask"], result)
        if "passes" in files:
            attrs = {"oiio:ColorSpace": ws or color.MODEL_SPACE, "facecomp:model": self.job.model.name}
            constant = self.face_names if named(self.job.face_select) else ()
            outputs.write_passes(files["passes"], result, self.job.passes, attrs, self.face_names, constant,
                                 layout=self.job.exr_layout)
            outputs.write_patches(files["patches"].parent, number, name, result, self.job.origin, ws)
        outputs.write_merged(files["merged"], result)
        return result.faces

    def _remove_leftovers(self) -> None:
        """Delete temporary files a killed run left behind (never a finished frame)."""
        j = self.job
        for folder in (j.out, j.mask_out, j.passes_out, j.passes_out / "patches" if j.passes_out else None):
            if folder is not None and folder.is_dir():
                for p in folder.iterdir():
                    if p.is_file() and atomic.is_temporary(p):
                        p.unlink(missing_ok=True)

    def _key(self, number: int) -> str:
        fingerprint = self.job.settings.for_frame(number).fingerprint()
        key = f"{fingerprint}|{self.job.face_select}|{','.join(self.job.passes)}|{self.job.exr_layout}"
        return hashlib.sha1(key.encode()).hexdigest()[:16]

    def _finished(self, session: _ResumeLog, number: int, name: str, key: str) -> bool:
        return session.done.get(name) == key and all(p.exists() for p in self._outputs(number, name).values())

    def _todo(self, session: _ResumeLog, report: MergeReport) -> Iterator[tuple[int, str, np.ndarray, str]]:
        """(number, name, image, settings key) of the frames still to merge; finished ones are counted."""
        if hasattr(self.source, "files"):
            for number in self.source.numbers:
                name, key = self.source.name(number), self._key(number)
                if self._finished(session, number, name, key):
                    report.skipped += 1
                    continue
                yield number, name, self.source.read(number), key
            return
        for frame in self.source:  # a video: decode in order
            key = self._key(frame.number)
            if self._finished(session, frame.number, frame.name, key):
                report.skipped += 1
                continue
            yield frame.number, frame.name, frame.image, key

    def run(self) -> MergeReport:
        """Merge every frame not finished yet; returns counts and timing."""
        start = time.perf_counter()
        j = self.job
        session = _ResumeLog(j.out.with_name(j.out.name + ".session.jsonl"), self.renderer.model.fingerprint, j.restart)
        self._remove_leftovers()
        report = MergeReport(frames=len(self.source), providers=list(self.renderer.providers))
        pending: dict[cf.Future[int], str] = {}

        def collect(until: int) -> None:
            while len(pending) > until:
                done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    name, key = pending.pop(fut).split("\0")
                    report.faces += fut.result()  # a frame's error surfaces here
                    session.finished(name, key)
                    report.merged += 1

        with cf.ThreadPoolExecutor(self.workers) as pool:
            try:
                for number, name, image, key in progress(self._todo(session, report), total=len(self.source),
                                                         desc="merge", unit="frame"):
                    pending[pool.submit(self._write, number, name, image)] = f"{name}\0{key}"
                    collect(self.workers * 2 - 1)
                collect(0)
            except BaseException:
                for fut in pending:
                    fut.cancel()
                raise
        report.seconds = time.perf_counter() - start
        return report


def preview(job: MergeJob, number: int, out_dir: Path) -> list[Path]:
    """Merge one frame with the job's settings and write ``<stem>_merged.png``, ``<stem>_mask.png`` and
    ``<stem>_side.png`` (plate | merged | mask) to ``out_dir``; returns the paths."""
    merger = Merger(MergeJob(**{**job.__dict__, "workers": 1}))
    source = merger.source
    if number not in source.numbers:
        raise FacecompError(f"frame {number} is not among the frames ({min(source.numbers)}-{max(source.numbers)})",
                            job.frames)
    name = source.name(number)
    image = source.read(number)
    result = merger.process(number, image)
    ws = job.working_space or default_working_space(getattr(source, "files", {}).get(number), image)

    def display(img: np.ndarray) -> np.ndarray:
        if img.dtype == np.uint8:
            return img
        return color.to_model_space(img, ws) if ws else to_uint8(img)

    plate8 = display(image)
    merged8 = display(result.merged)
    mask8 = cv2.cvtColor(to_uint8(result.mask), cv2.COLOR_GRAY2BGR)
    h = plate8.shape[0]

    def fit(img: np.ndarray) -> np.ndarray:
        return img if img.shape[0] == h else cv2.resize(img, (round(img.shape[1] * h / img.shape[0]), h))

    side = np.hstack([plate8, fit(merged8), fit(mask8)])
    for i, label in enumerate(("plate", job.settings.for_frame(number).mode, "mask")):
        x = sum(p.shape[1] for p in (plate8, fit(merged8), fit(mask8))[:i]) + 8
        cv2.putText(side, label, (x, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(side, label, (x, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 1, cv2.LINE_AA)
    paths = [out_dir / f"{name}_merged.png", out_dir / f"{name}_mask.png", out_dir / f"{name}_side.png"]
    for path, img in zip(paths, (merged8, to_uint8(result.mask), side), strict=True):
        atomic.write_bytes(path, encode_image(img, ".png"))
    return paths
