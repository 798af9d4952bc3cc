"""Run one or two exported models over a shot and measure every frame: identity, pose, shape, stability.

Per frame with a face (landmarks from ``--track``, else the aligned faceset as `facecomp merge` uses it, else
detection): the frame is swapped exactly as `facecomp merge` / `render` would (engine.swap, the given merge
settings), then

* both the original and the swapped frame are cut to the same whole_face square (the landmarks the swap used)
  and embedded with A's :class:`engine.faces.identity.FaceEmbedder` (identity);
* landmarks are re-detected on both frames (FaceMesh second pass started from the same landmarks,
  :meth:`FaceExtractor.refine`), giving head pose (:func:`engine.faces.pose.head_pose`) and landmark shapes;
* where the face is still, the face pass inside the mask (mask >= 0.9 in both frames) is compared with the
  previous frame's, and so is the plate there (flicker), and the mask with the previous mask (edge flicker).

All models of a report are run on the same frames in one pass, so side-by-side figures are comparable.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine.errors import FacecompError
from engine.faces.align import transform_mat, transform_points, warp_face
from engine.faces.facetype import FaceType
from engine.media.color import to_model_space
from engine.quality import metrics

log = logging.getLogger("facecomp")

CROP = 256  # whole_face square the identity embeddings are taken on
SAMPLES = 4  # sample frames shown in the report
THUMB = 192  # px height of a sample crop
INSIDE = 0.9  # mask value above which a pixel counts as inside the face for the flicker figure


@dataclass
class FrameRecord:
    """Measurements of one frame for one model (``model`` None: the original dst frame)."""

    number: int
    landmarks: np.ndarray  # re-detected 68 points, frame px
    score: float  # face-presence score of the re-detection
    pose: np.ndarray  # pitch, yaw, roll in degrees
    embedding: np.ndarray | None
    face_diff: float | None = None  # mean |face pass - previous face pass| x255 on a still pair
    plate_diff: float | None = None  # the same on the plate
    mask_diff: float | None = None  # mean |mask - previous mask| x255 over both masks


@dataclass
class Measured:
    """Per-frame records of one source of faces (the original frames, or one model's swaps)."""

    name: str
    records: list[FrameRecord] = field(default_factory=list)
    samples: list[np.ndarray] = field(default_factory=list)  # THUMB-high BGR crops of the sample frames

    def array(self, attr: str) -> np.ndarray:
        return np.stack([getattr(r, attr) for r in self.records]) if self.records else np.zeros((0,))


@dataclass
class ShotResult:
    """The measured shot: the original frames, each model's swaps, the src identity and bookkeeping."""

    numbers: list[int]
    original: Measured
    models: list[Measured]
    src_embeddings: np.ndarray | None
    frames_without_face: list[int]
    frame_size: tuple[int, int]
    embedder: dict[str, str] | None
    source: str
    faces_from: str


def _embedder() -> tuple[Any, dict[str, str] | None, str | None]:
    """A's FaceEmbedder, or (None, None, reason) when its packages are missing."""
    try:
        from engine.faces.identity import FaceEmbedder

        emb = FaceEmbedder()
    except (ImportError, FacecompError) as exc:
        return None, None, str(exc)
    return emb, {"name": emb.name, "licence": emb.licence}, None


def embed_faceset(embedder: Any, folder: Path, limit: int) -> np.ndarray:
    """Unit embeddings of up to ``limit`` faces spread evenly over a faceset folder."""
    from engine.faces.faceset import list_faces, read_face

    paths = list_faces(folder)
    if not paths:
        raise FacecompError("faceset folder holds no face images", folder)
    pick = sorted({int(i) for i in np.linspace(0, len(paths) - 1, min(limit, len(paths))).round()})
    rows = []
    for i in pick:
        img, meta = read_face(paths[i])
        if img.dtype != np.uint8:
            img = to_model_space(img, None)
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        scale = img.shape[1] / float(meta.size)
        rows.append(embedder.embed(np.ascontiguousarray(img[..., :3]), meta.landmarks * scale))
    return np.stack(rows)


def _thumb(image_u8: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """A square crop around the face (1.8x the landmark box), THUMB px high."""
    lo, hi = landmarks.min(0), landmarks.max(0)
    c, side = (lo + hi) / 2, float(max(hi - lo)) * 1.8
    h, w = image_u8.shape[:2]
    x0, y0 = int(max(0, c[0] - side / 2)), int(max(0, c[1] - side / 2))
    x1, y1 = int(min(w, c[0] + side / 2)), int(min(h, c[1] + side / 2))
    crop = image_u8[y0:y1, x0:x1] if x1 > x0 and y1 > y0 else image_u8
    return cv2.resize(crop, (max(1, round(crop.shape[1] * THUMB / crop.shape[0])), THUMB),
                      interpolation=cv2.INTER_AREA)


class ShotEvaluator:
    """Holds the loaded models, the landmark re-detector and the embedder for one report."""

    def __init__(self, model_paths: list[Path], provider: str | None = None, face_type: str | None = None):
        from engine.faces.face_finder import FaceExtractor
        from engine.swap.render import Renderer

        self.renderers = [Renderer(p, provider, face_type) for p in model_paths]
        self.extractor = FaceExtractor(None if provider in (None, "auto") else provider)
        self.embedder, self.embedder_info, self.embedder_missing = _embedder()
        if self.embedder is None:
            log.warning("identity figures skipped: %s", self.embedder_missing)

    def _measure(self, u8: np.ndarray, landmarks: np.ndarray, mat: np.ndarray) -> FrameRecord:
        """Re-detected landmarks, pose and identity embedding of the face at ``landmarks`` in ``u8``."""
        from engine.faces.pose import head_pose

        face = self.extractor.refine(u8, landmarks)
        pose = np.degrees(np.array(head_pose(face.landmarks, u8.shape[:2]), np.float64))
        emb = None
        if self.embedder is not None:
            crop = warp_face(u8, mat, CROP)
            emb = self.embedder.embed(crop, transform_points(landmarks, mat))
        return FrameRecord(0, np.asarray(face.landmarks, np.float64), float(face.score), pose, emb)

    def _faces(self, number: int, image: np.ndarray, track: Any, ws: str | None) -> list[Any]:
        from engine.swap.paste_face import FaceInput
        from engine.swap.render import select_faces

        if track is not None:
            return select_faces(track.faces(number, (image.shape[1], image.shape[0])), "largest")
        found = self.extractor.detect(to_model_space(image, ws))
        return select_faces([FaceInput(np.asarray(d.landmarks, np.float64), np.asarray(d.rect, np.float64))
                             for d in found], "largest")

    def run(self, frames: str | Path, numbers: list[int] | None, max_frames: int, track: Any, settings: Any,
            working_space: str | None, src_folder: Path, src_limit: int = 64, faces_from: str = "") -> ShotResult:
        """Measure ``numbers`` (None: the first ``max_frames`` frames) of ``frames`` with every model."""
        from engine.media.frames import open_frames
        from engine.progress import progress
        from engine.swap.render import default_working_space

        source = open_frames(frames)
        wanted = list(source.numbers)[:max_frames] if numbers is None else list(numbers)
        missing = sorted(set(wanted) - set(source.numbers))
        if missing:
            raise FacecompError(f"frame(s) {', '.join(map(str, missing[:5]))} not in the frames", frames)
        if not wanted:
            raise FacecompError("no frames to measure", frames)
        src_emb = embed_faceset(self.embedder, src_folder, src_limit) if self.embedder is not None else None
        sample_at = {wanted[int(i)] for i in np.linspace(0, len(wanted) - 1, min(SAMPLES, len(wanted))).round()}
        original = Measured("original dst")
        measured = [Measured(r.model.path.name) for r in self.renderers]
        prev: dict[int | str, Any] = {}
        no_face: list[int] = []
        size = (0, 0)
        todo = set(wanted)
        items = ((f.number, f.image, f.path) for f in source if f.number in todo) if not hasattr(source, "files") \
            else ((n, source.read(n), source.files[n]) for n in wanted)
        last_number = None
        for number, image, path in progress(items, total=len(wanted), desc="report", unit="frame"):
            if image.ndim != 3 or image.shape[2] != 3:
                raise FacecompError(f"frame {number} is not a 3-channel image", path or frames)
            size = (image.shape[1], image.shape[0])
            ws = working_space or default_working_space(path, image)
            faces = self._faces(number, image, track, ws)
            consecutive = last_number is not None and number == last_number + 1
            last_number = number
            if not faces:
                no_face.append(number)
                prev = {}
                continue
            lm = np.asarray(faces[0].landmarks, np.float64)
            mat = transform_mat(lm, CROP, FaceType.WHOLE_FACE)
            plate_u8 = to_model_space(image, ws)
            rec = self._measure(plate_u8, lm, mat)
            rec.number = number
            original.records.append(rec)
            moved = metrics.motion(np.stack([prev["lm"], lm]))[0] if consecutive and "lm" in prev else 1.0
            still = moved < metrics.STILL_MOTION
            if number in sample_at:
                original.samples.append(_thumb(plate_u8, lm))
            plate_f = image.astype(np.float32) / (255.0 if image.dtype == np.uint8 else 1.0)
            for k, (renderer, tr) in enumerate(zip(self.renderers, measured, strict=True)):
                result = renderer.swapper.swap(image, faces, settings.for_frame(number), ws)
                merged_u8 = to_model_space(result.merged, ws)
                srec = self._measure(merged_u8, lm, mat)
                srec.number = number
                face_pass, mask = result.face_pass(), result.face_mask
                if still and k in prev:
                    inside = (mask >= INSIDE) & (prev[k][1] >= INSIDE)  # the face, away from the mask's edge
                    edge = np.maximum(mask, prev[k][1]) > 0.05
                    if inside.any():
                        srec.face_diff = float(np.abs(face_pass - prev[k][0])[inside].mean() * 255.0)
                        srec.plate_diff = float(np.abs(plate_f - prev["plate"])[inside].mean() * 255.0)
                        srec.mask_diff = float(np.abs(mask - prev[k][1])[edge].mean() * 255.0)
                prev[k] = (face_pass, mask)
                tr.records.append(srec)
                if number in sample_at:
                    tr.samples.append(_thumb(merged_u8, lm))
            prev["lm"], prev["plate"] = lm, plate_f
        return ShotResult(wanted, original, measured, src_emb, no_face, size, self.embedder_info, str(frames),
                          faces_from)


def _mean(values: list[float | None] | list[float] | np.ndarray) -> float | None:
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    return round(float(np.mean(v)), 4) if v else None


def identity_summary(result: ShotResult, model: Measured) -> dict[str, Any]:
    """identity.swap_to_src / dst_to_src (mean cosine similarity with the src faceset's mean identity) ..."""
    if result.src_embeddings is None or not model.records:
        return {"swap_to_src": None, "dst_to_src": None, "swap_to_dst": None, "src_to_src": None,
                "retrieval": None, "per_frame": []}
    src_mean = metrics.mean_vector(result.src_embeddings)
    orig = result.original.array("embedding")
    swap = model.array("embedding")
    dst_mean = metrics.mean_vector(orig)
    to_src, to_dst = metrics.cosine(swap, src_mean), metrics.cosine(swap, dst_mean)
    orig_to_src = metrics.cosine(orig, src_mean)
    from engine.faces.identity import SAME_PERSON

    same = 1.0 - SAME_PERSON**2 / 2.0  # unit vectors: distance d <-> cosine 1 - d^2/2
    return {
        "swap_to_src": _mean(to_src),
        "dst_to_src": _mean(orig_to_src),
        "same_person_cosine": round(same, 4),
        "swap_same_person_as_src": round(float(np.mean(to_src >= same)), 4),
        "swap_to_dst": _mean(to_dst),
        "src_to_src": _mean(metrics.cosine(result.src_embeddings, src_mean)),
        "retrieval": round(float(np.mean(to_src > to_dst)), 4),
        "per_frame": [{"frame": r.number, "swap_to_src": round(float(a), 4), "dst_to_src": round(float(b), 4)}
                      for r, a, b in zip(model.records, to_src, orig_to_src, strict=True)],
    }


def pose_summary(result: ShotResult, model: Measured) -> dict[str, Any]:
    """pose.error_deg (mean L2 of pitch/yaw/roll differences) and landmark-shape distances, swap vs dst."""
    if not model.records:
        return {"error_deg": None, "shape_nme": None, "mouth_nme": None, "per_frame": []}
    from engine.faces.face_finder import PRESENCE

    po, ps = result.original.array("pose"), model.array("pose")
    err = metrics.pose_error(ps, po)
    diff = np.abs(ps - po)
    shape = [metrics.shape_distance(s.landmarks, o.landmarks) for s, o in zip(model.records, result.original.records,
                                                                             strict=True)]
    mouth = [metrics.shape_distance(s.landmarks, o.landmarks, metrics.MOUTH)
             for s, o in zip(model.records, result.original.records, strict=True)]
    return {
        "error_deg": _mean(err),
        "max_error_deg": round(float(err.max()), 4),
        "pitch_deg": _mean(diff[:, 0]), "yaw_deg": _mean(diff[:, 1]), "roll_deg": _mean(diff[:, 2]),
        "shape_nme": _mean(shape),
        "mouth_nme": _mean(mouth),
        "face_found": round(float(np.mean(model.array("score") >= PRESENCE)), 4),
        "per_frame": [{"frame": s.number, "error_deg": round(float(e), 3),
                       "dst": [round(float(v), 2) for v in o.pose], "swap": [round(float(v), 2) for v in s.pose]}
                      for s, o, e in zip(model.records, result.original.records, err, strict=True)],
    }


def jitter_summary(result: ShotResult, model: Measured) -> dict[str, Any]:
    """jitter.landmark_px on the swapped frames vs the original ones; face-pass flicker on still pairs."""
    numbers = [r.number for r in model.records]
    swap = metrics.landmark_jitter(numbers, model.array("landmarks")) if model.records else None
    dst = metrics.landmark_jitter(numbers, result.original.array("landmarks")) if model.records else None
    still = [r for r in model.records if r.face_diff is not None]
    face = _mean([r.face_diff for r in still])
    plate = _mean([r.plate_diff for r in still])
    return {
        "landmark_px": None if swap is None else round(swap, 4),
        "landmark_px_dst": None if dst is None else round(dst, 4),
        "landmark_ratio": round(swap / dst, 4) if swap is not None and dst else None,
        "still_pairs": len(still),
        "face_pass_diff": face,
        "plate_diff": plate,
        "flicker_ratio": round(face / plate, 4) if face is not None and plate else None,
        "mask_diff": _mean([r.mask_diff for r in still]),
        "per_frame": [{"frame": r.number, "face_pass_diff": round(r.face_diff or 0.0, 3),
                       "plate_diff": round(float(r.plate_diff or 0.0), 3)} for r in still],
    }
