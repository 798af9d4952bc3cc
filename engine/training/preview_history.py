"""Preview history (DFL's write_preview_history): ``model/history/<iteration>.png`` during training, and a
timelapse of it afterwards: an MP4 (H.264 through PyAV) or a contact sheet (PNG/JPEG) stamped with iterations.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import cv2
import numpy as np

from engine.errors import FacecompError
from engine.media.image_io import read_image, write_image

FOLDER = "history"
SHEET_COLUMNS = 4
SHEET_CELL_WIDTH = 480
SHEET_MAX = 16
VIDEO_MAX_FRAMES = 3000


def history_path(model_dir: Path, iteration: int) -> Path:
    """Where the preview of ``iteration`` goes (numbered so that name order is iteration order)."""
    return model_dir / FOLDER / f"{iteration:07d}.png"


def history_frames(model_dir: Path) -> list[tuple[int, Path]]:
    """(iteration, file) of every preview in the model's history, in iteration order."""
    folder = model_dir / FOLDER
    found = [(int(p.stem), p) for p in folder.glob("*.png") if p.stem.isdigit()] if folder.is_dir() else []
    return sorted(found)


def _evenly(frames: list[tuple[int, Path]], count: int) -> list[tuple[int, Path]]:
    if len(frames) <= count:
        return frames
    picks = np.linspace(0, len(frames) - 1, count).round().astype(int)
    return [frames[i] for i in sorted(set(picks.tolist()))]


def _stamp(img: np.ndarray, iteration: int) -> np.ndarray:
    out = img[..., :3].copy()
    text = f"iter {iteration}"
    scale = max(0.4, out.shape[1] / 1200.0)
    (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    y0 = out.shape[0] - h - 8
    out[y0:, : w + 10] = out[y0:, : w + 10] // 3
    cv2.putText(out, text, (5, out.shape[0] - 5), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def _read8(path: Path) -> np.ndarray:
    img = read_image(path)
    if img.dtype != np.uint8:
        img = (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return img if img.ndim == 3 else np.repeat(img[..., None], 3, axis=2)


def contact_sheet(frames: list[tuple[int, Path]], columns: int = SHEET_COLUMNS,
                  cell_width: int = SHEET_CELL_WIDTH) -> np.ndarray:
    """Up to SHEET_MAX previews, evenly spread over the run, in a grid (BGR uint8)."""
    chosen = _evenly(frames, SHEET_MAX)
    cells = []
    for it, path in chosen:
        img = _read8(path)
        scale = cell_width / img.shape[1]
        cells.append(_stamp(cv2.resize(img, (cell_width, max(1, round(img.shape[0] * scale))),
                                       interpolation=cv2.INTER_AREA), it))
    height = max(c.shape[0] for c in cells)
    rows = math.ceil(len(cells) / columns)
    cols = min(columns, len(cells))
    sheet = np.full((rows * height, cols * cell_width, 3), 16, np.uint8)
    for i, cell in enumerate(cells):
        r, c = divmod(i, columns)
        sheet[r * height: r * height + cell.shape[0], c * cell_width: (c + 1) * cell_width] = cell
    return sheet


def write_timelapse(model_dir: Path, out: Path, fps: float = 12.0) -> int:
    """The model's preview history as ``out`` (.mp4/.mov/.mkv: a video; .png/.jpg: a contact sheet).
    Returns the number of previews used; a folder without history is a clear error."""
    frames = history_frames(model_dir)
    if not frames:
        raise FacecompError("no preview history here (train with --write-preview-history to keep one)",
                            model_dir / FOLDER)
    suffix = out.suffix.lower()
    if suffix in (".png", ".jpg", ".jpeg"):
        sheet = contact_sheet(frames)
        write_image(out, sheet)
        return min(len(frames), SHEET_MAX)
    if suffix not in (".mp4", ".mov", ".mkv"):
        raise FacecompError("timelapse must be a video (.mp4, .mov, .mkv) or an image (.png, .jpg)", out)
    from engine.media.video import write_video

    chosen = _evenly(frames, VIDEO_MAX_FRAMES)
    size: tuple[int, int] | None = None
    with tempfile.TemporaryDirectory(prefix="facecomp_timelapse_") as tmp:
        for n, (it, path) in enumerate(chosen, 1):
            img = _read8(path)
            if size is None:
                size = (img.shape[1], img.shape[0])
            elif (img.shape[1], img.shape[0]) != size:
                img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
            write_image(Path(tmp) / f"{n:06d}.png", _stamp(img, it))
        write_video(tmp, out, fps=fps, codec="h264" if suffix != ".mov" else "prores4444")
    return len(chosen)
