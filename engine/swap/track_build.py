"""Building the alignment track of a shot (engine.swap.track holds the file format): landmarks from an aligned
faceset or face detection on every frame, cuts, ids and identities, One-Euro smoothing, and, with an XSeg model,
each face's XSeg mask on the final landmarks.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine.errors import FacecompError
from engine.faces.faceset import decode_mask, encode_mask, list_faces, read_meta
from engine.media.color import MODEL_SPACE
from engine.media.frames import FrameSource, ImageSequence, open_frames
from engine.media.plate_space import plate_space
from engine.progress import progress
from engine.swap.identities import assign_identities
from engine.swap.pipeline import differing_space, open_xseg, plate_xseg
from engine.swap.smoothing import OneEuro, jitter, smooth_landmarks
from engine.swap.track import LANDMARK_DECIMALS, Track, TrackFace, TrackFrame

log = logging.getLogger("facecomp")

CUT_MIN_DIFF = 20.0  # mean abs grey difference (0..255) a cut must exceed ...
CUT_RATIO = 3.0  # ... and this multiple of the local median difference
MATCH_IOU = 0.3  # a face continues an id when its box overlaps the previous one this much ...
MAX_JUMP = 0.25  # ... and its landmarks moved less than this fraction of the face size
# zlib level of the stored XSeg masks: a soft-edged 256 px mask is a third smaller than at OpenCV's default
# (4.5 vs 6.9 KB) for 1.6 ms more a face, next to XSeg's hundreds of ms
MASK_PNG_COMPRESSION = 6


def _faceset_faces(aligned: Path, names: dict[str, int], numbers: set[int]) -> dict[int, list[TrackFace]]:
    """Faces of an aligned faceset keyed by frame number (matched by source file stem, else source_frame)."""
    found: dict[int, list[TrackFace]] = {}
    skipped = 0
    for path in list_faces(aligned):
        meta = read_meta(path)
        n = names.get(Path(meta.source_filename).stem)
        if n is None:
            n = meta.source_frame if meta.source_frame in numbers else None
        if n is None:
            skipped += 1
            continue
        mat = None
        if meta.xseg_mask:
            side = decode_mask(meta.xseg_mask, path).shape[1]
            mat = np.asarray(meta.image_to_face_mat, np.float64) * (side / meta.size)
        found.setdefault(n, []).append(TrackFace(meta.face_index, np.asarray(meta.source_rect, np.float64),
                                                 meta.source_landmarks.copy(), meta.source_landmarks.copy(), 1.0,
                                                 path.name, meta.xseg_mask, mat, meta.eyebrows_expand_mod))
    if skipped:
        log.warning("%s: %d faces belong to no frame of the source (skipped)", aligned, skipped)
    for faces in found.values():
        faces.sort(key=lambda f: f.id)
    return found


def _thumb(img: np.ndarray) -> np.ndarray:
    u8 = img if img.dtype == np.uint8 else (np.clip(img, 0, 1) * 255).astype(np.uint8)
    g = cv2.cvtColor(u8, cv2.COLOR_BGR2GRAY)
    w = 64
    small = cv2.resize(g, (w, max(1, round(g.shape[0] * w / g.shape[1]))), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32)


def detect_cuts(diffs: list[float], numbers: list[int]) -> list[int]:
    """Frame numbers that start a new shot: a grey-level difference to the previous frame that is both large
    (> CUT_MIN_DIFF) and a spike (> CUT_RATIO x the median of its neighbours). ``diffs[i]`` is frame i vs i-1."""
    d = np.asarray(diffs, np.float64)
    cuts = []
    for i in range(1, len(d)):
        lo, hi = max(1, i - 7), min(len(d), i + 8)
        others = np.concatenate([d[lo:i], d[i + 1:hi]])
        local = float(np.median(others)) if others.size else 0.0
        if d[i] > CUT_MIN_DIFF and d[i] > CUT_RATIO * max(local, 1.0):
            cuts.append(numbers[i])
    return cuts


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _box(f: TrackFace) -> np.ndarray:
    return np.concatenate([f.raw.min(0), f.raw.max(0)])


def assign_ids(frames: list[TrackFrame], cuts: set[int]) -> None:
    """Give faces identities across frames: a face keeps the id of the previous frame's face it overlaps
    (IoU > MATCH_IOU) unless there is a cut or its landmarks jumped (> MAX_JUMP of the face size)."""
    next_id = 0
    prev: list[TrackFace] = []
    for tf in frames:
        faces = sorted(tf.faces, key=lambda f: -float(np.prod(_box(f)[2:] - _box(f)[:2])))
        taken: set[int] = set()
        pairs = []
        if tf.number not in cuts:
            pairs = sorted(((_iou(_box(f), _box(p)), i, j) for i, f in enumerate(faces) for j, p in enumerate(prev)),
                           reverse=True)
        matched: dict[int, int] = {}
        for score, i, j in pairs:
            if score < MATCH_IOU or i in matched or j in taken:
                continue
            size = float(np.hypot(*(faces[i].raw.max(0) - faces[i].raw.min(0)))) or 1.0
            jump = float(np.mean(np.linalg.norm(faces[i].raw - prev[j].raw, axis=1))) / size
            if jump > MAX_JUMP:
                continue
            matched[i] = prev[j].id
            taken.add(j)
        for i, f in enumerate(faces):
            if i in matched:
                f.id = matched[i]
            else:
                f.id = next_id
                next_id += 1
            next_id = max(next_id, f.id + 1)
        tf.faces = faces
        prev = faces


def face_runs(frames: list[TrackFrame]) -> list[list[TrackFace]]:
    """The faces of each run of consecutive frames of one face id (a run never crosses a gap or an id change)."""
    out: list[list[TrackFace]] = []
    current: dict[int, int] = {}
    last: dict[int, int] = {}
    for pos, tf in enumerate(frames):
        for f in tf.faces:
            if last.get(f.id) != pos - 1:
                current[f.id] = len(out)
                out.append([])
            out[current[f.id]].append(f)
            last[f.id] = pos
    return out


def smooth_track(frames: list[TrackFrame], params: OneEuro) -> None:
    """Smooth the landmarks of every run of a face id (ids change at cuts, so runs never cross one)."""
    for run in face_runs(frames):
        smoothed = smooth_landmarks(np.stack([f.raw for f in run]), params)
        for f, lm in zip(run, smoothed, strict=True):
            f.landmarks = lm


def _pixels(source: FrameSource, numbers: list[int]) -> Iterator[np.ndarray]:
    """The images of ``numbers`` in order: read one by one from an image sequence, decoded in one pass (up to
    the last wanted frame) from a video."""
    if isinstance(source, ImageSequence):
        return (source.read(n) for n in numbers)
    wanted = set(numbers)
    return (f.image for f in source if f.number in wanted)


def build_track(frames_spec: str | os.PathLike[str], aligned_dir: str | os.PathLike[str] | None = None,
                smooth: bool = True, min_cutoff: float = OneEuro.min_cutoff, beta: float = OneEuro.beta,
                detect_cut: bool = True,
                max_faces: int = 0, provider: str | None = None, working_space: str | None = None,
                frames: list[int] | None = None, identities: bool = True,
                xseg_model: str | os.PathLike[str] | None = None) -> Track:
    """Build the alignment track of a shot from its frames and either an aligned faceset (landmarks stored in
    the faces' metadata) or face detection on every frame (engine.faces.extract_faceset). ``frames``: only these frame
    numbers (None: all). ``identities``: join the runs of one person across cuts (identity embedding).
    ``xseg_model`` (exported XSeg .onnx or XSeg model folder): store every face's XSeg mask, computed on the
    final landmarks; it replaces the faceset's applied masks."""
    source = open_frames(frames_spec)
    numbers = list(source.numbers)
    names = {source.name(n): n for n in numbers}
    fps = float(source.fps) if source.fps else 30.0
    params = OneEuro(min_cutoff, beta, fps=fps)
    missing = sorted(set(frames) - set(numbers)) if frames is not None else []
    if missing or frames == []:
        raise FacecompError(f"frame(s) {', '.join(map(str, missing[:5])) or '(none)'} not in the shot "
                            f"({min(numbers)}-{max(numbers)})", frames_spec)
    xseg = open_xseg(xseg_model, provider)  # a bad model fails before any work
    stored = _faceset_faces(Path(aligned_dir), names, set(numbers)) if aligned_dir else None
    if frames is not None:  # faces of the whole faceset are matched to frames above, then only these are kept
        wanted = set(frames)
        numbers = [n for n in numbers if n in wanted]
    extractor = None
    if stored is None:
        try:
            from engine.faces.extract_faceset import FaceExtractor
        except ImportError:
            raise FacecompError("face detection is not available (engine.faces.extract_faceset); "
                                "give --aligned") from None
        extractor = FaceExtractor(provider, max_faces=max_faces)
    track_frames: list[TrackFrame] = []
    diffs: list[float] = []
    prev_thumb = None
    sizes: set[tuple[int, int]] = set()
    need_pixels = extractor is not None or detect_cut
    iterator = _pixels(source, numbers) if need_pixels else None
    for n in progress(numbers, total=len(numbers), desc="track", unit="frame"):
        tf = TrackFrame(n, source.name(n))
        if iterator is not None:
            img = next(iterator)
            sizes.add((img.shape[1], img.shape[0]))
            ws = plate_space(getattr(source, "files", {}).get(n), img, working_space)  # the same rule as merge
            thumb = _thumb(img if img.dtype == np.uint8 or not ws else _model_u8(img, ws))
            diffs.append(float(np.mean(np.abs(thumb - prev_thumb))) if prev_thumb is not None else 0.0)
            prev_thumb = thumb
            if extractor is not None:
                u8 = img if img.dtype == np.uint8 else _model_u8(img, ws)
                for i, d in enumerate(extractor.detect(u8)):
                    lm = np.asarray(d.landmarks, np.float64)
                    tf.faces.append(TrackFace(i, np.asarray(d.rect, np.float64), lm.copy(), lm.copy(), float(d.score)))
        if stored is not None:
            tf.faces = stored.get(n, [])
        track_frames.append(tf)
    if max_faces > 0:
        for tf in track_frames:
            tf.faces = sorted(tf.faces, key=lambda f: -float(np.prod(_box(f)[2:] - _box(f)[:2])))[:max_faces]
    cuts = detect_cuts(diffs, numbers) if detect_cut and diffs else []
    assign_ids(track_frames, set(cuts))
    if identities:
        assign_identities(track_frames, lambda wanted: (_u8(img, working_space) for img in _pixels(source, wanted)))
    if smooth:
        smooth_track(track_frames, params)
    if xseg is not None:
        add_xseg_masks(track_frames, source, xseg, working_space)
    # (0, 0) = unknown (frames not read) or photos of mixed sizes: nothing to check a plate against
    size = sizes.pop() if len(sizes) == 1 else (0, 0)
    return Track({f.number: f for f in track_frames}, os.fspath(frames_spec),
                 str(Path(aligned_dir).resolve()) if aligned_dir else None, size, fps,
                 params.to_dict() if smooth else None, cuts,
                 xseg=None if xseg is None else {"model": str(xseg.source.resolve()), "face_type": xseg.face_type.label,
                                                 "resolution": xseg.resolution})


def add_xseg_masks(frames: list[TrackFrame], source: FrameSource, xseg: Any, working_space: str | None) -> None:
    """Store each face's XSeg mask: the model (engine.xseg.apply.XSegApplier) run on the face cut at its final
    landmarks (as the track file keeps them) in the model's face type and resolution, from the plate in the
    model space (the merger's XSeg-dst, engine.swap.pipeline.plate_xseg). Replaces the faceset's masks."""
    with_faces = [tf for tf in frames if tf.faces]
    replaced = sum(1 for tf in with_faces for f in tf.faces if f.xseg_mask)
    if replaced:
        log.info("%d faces have an applied XSeg mask in the faceset; the XSeg model's masks replace them (%s)",
                 replaced, xseg.source)
    images = _pixels(source, [tf.number for tf in with_faces])
    for tf, img in progress(zip(with_faces, images, strict=True), total=len(with_faces), desc="xseg", unit="frame"):
        ws = plate_space(getattr(source, "files", {}).get(tf.number), img, working_space)  # the same rule as merge
        landmarks = [np.round(f.landmarks, LANDMARK_DECIMALS) for f in tf.faces]
        masks = plate_xseg(xseg, img, differing_space(img, ws, MODEL_SPACE), MODEL_SPACE, landmarks)
        for f, (mask, mat) in zip(tf.faces, masks, strict=True):
            f.xseg_mask, f.xseg_mat = encode_mask(mask, MASK_PNG_COMPRESSION), mat


def _u8(img: np.ndarray, working_space: str | None) -> np.ndarray:
    """A frame as 8-bit BGR for the detector and the embedder."""
    if img.dtype == np.uint8:
        return img
    return _model_u8(img, working_space) if working_space else (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def _model_u8(img: np.ndarray, working_space: str | None) -> np.ndarray:
    from engine.media.color import to_model_space

    return to_model_space(img, working_space)


def track_jitter(track: Track, points: list[int] | None = None) -> tuple[float, float]:
    """Jitter (RMS second difference, px) of the raw and of the used landmarks, pooled over all runs."""
    raw_sq, used_sq, count = 0.0, 0.0, 0
    for run in face_runs(list(track.frames.values())):
        if len(run) < 3:
            continue
        n = len(run) - 2
        raw_sq += jitter(np.stack([f.raw for f in run]), points) ** 2 * n
        used_sq += jitter(np.stack([f.landmarks for f in run]), points) ** 2 * n
        count += n
    if count == 0:
        return 0.0, 0.0
    return float(np.sqrt(raw_sq / count)), float(np.sqrt(used_sq / count))
