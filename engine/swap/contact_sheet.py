"""The non-interactive answer to DeepFaceLab's interactive merger: several frames, or several settings, in one
image.

``merge --preview 10,120,200`` writes one contact sheet, a row per frame (plate | merged | mask);
``merge --wedge erode=0,20,40 blur=10,40`` writes a grid, a row per frame and a column per combination of the
given values (every combination, left to right in the order given), cropped around the faces so that the
differences show. Values are checked against the merge option table before anything is rendered.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine import atomic
from engine.errors import FacecompError
from engine.media import color
from engine.media.image_io import encode_image, to_uint8
from engine.swap.merge_frames import MergeJob, Merger
from engine.swap.render import check_xseg, default_working_space
from engine.swap.settings import DFL_NAMES, MERGE_OPTIONS, FrameSettings

log = logging.getLogger("facecomp")

MAX_VARIANTS = 64
MAX_FRAMES = 64
FACE_MARGIN = 0.35  # crop of a wedge cell: the faces' box grown by this share on each side
Variant = dict[str, Any]


def parse_wedge(items: list[str]) -> list[Variant]:
    """``["erode=0,20,40", "blur=10,40"]`` -> the 6 combinations, values converted and range-checked."""
    options = {o.name: o for o in MERGE_OPTIONS}
    axes: list[tuple[str, list[Any]]] = []
    for item in items:
        key, sep, values = item.partition("=")
        name = DFL_NAMES.get(key.strip(), key.strip()).replace("-", "_")
        if not sep or not values.strip():
            raise FacecompError(f"--wedge {item!r}: use OPTION=V1,V2,... (e.g. erode=0,20,40)")
        if name not in options:
            raise FacecompError(f"--wedge {item!r}: unknown merge option {key!r} (known: {', '.join(options)})")
        if name in (n for n, _ in axes):
            raise FacecompError(f"--wedge: {name} given twice")
        axes.append((name, [options[name].convert(v.strip(), f"--wedge {name}") for v in values.split(",")]))
    variants = [dict(zip([n for n, _ in axes], combo, strict=True))
                for combo in itertools.product(*(v for _, v in axes))]
    if len(variants) > MAX_VARIANTS:
        raise FacecompError(f"--wedge makes {len(variants)} combinations (limit {MAX_VARIANTS})")
    return variants


def _label(img: np.ndarray, text: str, x: int = 8, y: int = 24) -> None:
    for colour, width in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, width, cv2.LINE_AA)


def _face_box(mask: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """The faces' box (x0, y0, x1, y1) grown by FACE_MARGIN; the whole frame when there is no face."""
    h, w = shape[:2]
    ys, xs = np.nonzero(mask > 0.01)
    if len(xs) == 0:
        return 0, 0, w, h
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    mx, my = int((x1 - x0) * FACE_MARGIN), int((y1 - y0) * FACE_MARGIN)
    return max(0, x0 - mx), max(0, y0 - my), min(w, x1 + mx), min(h, y1 + my)


def _fit(img: np.ndarray, height: int) -> np.ndarray:
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    width = max(1, round(img.shape[1] * height / img.shape[0]))
    return cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)


def _grid(rows: list[list[tuple[np.ndarray, str]]], height: int) -> np.ndarray:
    """Labelled cells scaled to one height, rows padded to the widest."""
    built = []
    for row in rows:
        cells = []
        for img, label in row:
            cell = _fit(img, height).copy()
            _label(cell, label)
            cells.append(cell)
            cells.append(np.full((height, 4, 3), 40, np.uint8))
        built.append(np.hstack(cells[:-1]))
    width = max(r.shape[1] for r in built)
    padded = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=40) for r in built]
    return np.vstack(padded)


class SheetRenderer:
    """Merges chosen frames of a job with the job's settings or with wedge variants, as 8-bit display images."""

    def __init__(self, job: MergeJob):
        self.merger = Merger(replace(job, workers=1))
        self.source = self.merger.source

    def check(self, numbers: list[int]) -> None:
        if not numbers or len(numbers) > MAX_FRAMES:
            raise FacecompError(f"--preview: give 1 to {MAX_FRAMES} frames")
        missing = [n for n in numbers if n not in self.source.numbers]
        if missing:
            raise FacecompError(f"frame {missing[0]} is not among the frames ({min(self.source.numbers)}-"
                                f"{max(self.source.numbers)})", self.merger.job.frames)

    def render(self, number: int, settings: FrameSettings | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(plate, merged, mask) of one frame as 8-bit BGR/grey images for display."""
        if settings is not None:
            self.merger.job = replace(self.merger.job, settings=settings)
        image = self.source.read(number)
        result = self.merger.process(number, image)
        ws = self.merger.job.working_space or default_working_space(getattr(self.source, "files", {}).get(number),
                                                                    image)

        def display(img: np.ndarray) -> np.ndarray:
            if img.dtype == np.uint8:
                return img
            return color.to_model_space(img, ws) if ws else to_uint8(img)

        return display(image), display(result.merged), to_uint8(result.mask)


def preview_sheet(job: MergeJob, numbers: list[int], out: Path, height: int = 270) -> Path:
    """One PNG, a row per frame: plate | merged (mode) | mask."""
    sheet = SheetRenderer(job)
    sheet.check(numbers)
    rows = []
    for n in numbers:
        plate, merged, mask = sheet.render(n)
        rows.append([(plate, f"frame {n}"), (merged, job.settings.for_frame(n).mode), (mask, "mask")])
    atomic.write_bytes(out, encode_image(_grid(rows, height), ".png"))
    return out


def wedge_sheet(job: MergeJob, numbers: list[int] | None, variants: list[Variant], out: Path,
                height: int = 320) -> Path:
    """One PNG, a row per frame (None: the middle frame): the plate then one merged crop per variant."""
    sheet = SheetRenderer(job)
    if numbers is None:
        frames = list(sheet.source.numbers)
        numbers = [frames[len(frames) // 2]] if frames else []
    sheet.check(numbers)
    base = job.settings
    settings = [FrameSettings(base.defaults, base.ranges, {**base.flags, **v}, base.origin) for v in variants]
    for fs in settings:
        check_xseg(fs, sheet.merger.renderer)  # an XSeg mask mode without --xseg-model fails before any render
    rows = []
    for n in numbers:
        plate, _, mask = sheet.render(n, base)
        x0, y0, x1, y1 = _face_box(mask, plate.shape)
        row = [(plate[y0:y1, x0:x1], f"frame {n}")]
        for variant, fs in zip(variants, settings, strict=True):
            _, merged, _ = sheet.render(n, fs)
            crop = merged[y0:y1, x0:x1] if merged.shape[:2] == plate.shape[:2] else merged  # raw-predict: a square
            row.append((crop, " ".join(f"{k} {v}" for k, v in variant.items())))
        rows.append(row)
    atomic.write_bytes(out, encode_image(_grid(rows, height), ".png"))
    log.info("wedge: %d frame(s) x %d variants", len(numbers), len(variants))
    return out
