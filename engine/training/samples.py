"""DeepFaceLab's training sample generator (dfl.md §9) for the swap models.

A :class:`Faceset` reads the metadata of every face up front (a damaged file is a clear error naming it) and
decodes images on demand (or all up front in worker processes, :meth:`Faceset.preload`), re-aligned to the
model's face type and resolution and cached in memory as uint8 (within a budget sized from the machine). A
:class:`SideSpec` says what one side (src or dst) of a batch gets; :func:`make_batch` draws one side's batch:
per sample one seed drives the warped input, the target and the masks (same affine and flip, only the input
warped); :func:`make_raw_batch` draws the same but leaves the augmentation to the training device
(engine.training.device_augment). :class:`BatchFeeder` keeps batches coming from background threads (OpenCV
and NumPy release the GIL) so that the training step never waits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine.errors import FacecompError
from engine.faces.align import ALIGN_POINTS, MEAN_FACE, averaged_yaw, transform_mat, transform_points, umeyama
from engine.faces.faceset import FaceMeta, decode_mask, list_faces, read_meta
from engine.faces.facetype import FaceType
from engine.faces.masks import eyes_mouth_mask, hull_mask
from engine.media.image_io import read_image, to_uint8
from engine.training.augment import apply_warp, random_hsv, warp_params
from engine.training.prefetch import Prefetcher

log = logging.getLogger("facecomp")

YAW_BINS = 128
YAW_RANGE = 1.2
DEFAULT_CACHE_BYTES = 1 << 30
MAX_CACHE_BYTES = 16 << 30


def cache_budget() -> int:
    """Bytes of decoded faces a faceset may keep: a quarter of the available memory, 1 to 16 GiB (1 GiB where
    /proc/meminfo is missing)."""
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(min(MAX_CACHE_BYTES, max(DEFAULT_CACHE_BYTES, int(line.split()[1]) * 1024 // 4)))
    except (OSError, ValueError):
        pass
    return DEFAULT_CACHE_BYTES


@dataclass
class FaceSample:
    """One face at the model's resolution and face type: BGR uint8, full mask and eyes+mouth mask (uint8)."""

    image: np.ndarray
    mask: np.ndarray
    em_mask: np.ndarray

    def packed(self) -> np.ndarray:
        """(H, W, 5) uint8: BGR, mask, eyes+mouth mask (what the device-side augmentation receives)."""
        return np.concatenate([self.image, self.mask[..., None], self.em_mask[..., None]], axis=-1)


@dataclass
class SideSpec:
    """What one side of a batch gets (DFL's sample processor options for src or dst)."""

    resolution: int
    random_warp: bool = True
    flip: bool = False
    scale_range: tuple[float, float] = (-0.15, 0.15)
    hsv_power: float = 0.0
    ct_mode: str | None = None
    uniform_yaw: bool = False


def _yaw(meta: FaceMeta) -> float:
    """Head yaw of a face (radians when engine.faces.pose is there; DFL's landmark estimate otherwise)."""
    try:
        from engine.faces.pose import head_pose
    except ImportError:
        unit = transform_points(meta.landmarks, umeyama(meta.landmarks[ALIGN_POINTS], MEAN_FACE))
        return averaged_yaw(unit)
    return float(head_pose(meta.landmarks, meta.size)[1])


def _call(fn_job: tuple[Callable[..., Any], tuple[Any, ...]]) -> Any:
    return fn_job[0](*fn_job[1])


def _arrays_nbytes(value: Any) -> int:
    parts = value if isinstance(value, tuple) else vars(value).values()
    return sum(a.nbytes for a in parts if isinstance(a, np.ndarray))


class FaceCache:
    """Decoded faces of one faceset kept in memory (uint8 arrays) within a byte budget (:func:`cache_budget`;
    past it faces are decoded again each time), shared by the sample threads. ``prepare(*job)`` decodes one
    face; it is a module-level function, so that :meth:`preload` can run it in worker processes."""

    def __init__(self, prepare: Callable[..., Any], cache_bytes: int | None = None):
        self.prepare = prepare
        self.items: dict[Hashable, Any] = {}
        self.left = int(cache_budget() if cache_bytes is None else cache_bytes)
        self._lock = threading.Lock()

    def get(self, key: Hashable, job: tuple[Any, ...]) -> Any:
        """The face under ``key`` (decoded from ``job`` the first time, then kept while the budget lasts)."""
        hit = self.items.get(key)
        if hit is not None:
            return hit
        value = self.prepare(*job)
        self.store(key, value)
        return value

    def store(self, key: Hashable, value: Any) -> None:
        size = _arrays_nbytes(value)
        with self._lock:
            if self.left >= size and key not in self.items:
                self.items[key] = value
                self.left -= size

    def preload(self, jobs: dict[Hashable, tuple[Any, ...]], workers: int, face_bytes: int, name: Path) -> int:
        """Decode the faces of ``jobs`` (key -> job) not cached yet with ``workers`` processes (no GIL, one OpenCV
        thread each) when all fit the budget (``face_bytes`` each); returns how many were decoded (0: they do not
        fit, or the processes failed: faces are then decoded on demand)."""
        todo = [k for k in jobs if k not in self.items]
        if not todo or workers < 2 or len(todo) * face_bytes > self.left:
            return 0
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool
        from multiprocessing import get_context

        try:
            with ProcessPoolExecutor(min(workers, len(todo)), mp_context=get_context("spawn"),
                                     initializer=cv2.setNumThreads, initargs=(1,)) as pool:
                work = [(self.prepare, jobs[k]) for k in todo]
                for k, value in zip(todo, pool.map(_call, work, chunksize=8), strict=True):
                    self.store(k, value)
        except (BrokenProcessPool, OSError) as exc:  # e.g. a __main__ without a main guard: decode on demand
            log.info("decoding %s in processes failed (%s); faces are decoded on demand", name, exc)
            return 0
        return len(todo)


class Faceset:
    """The faces of one faceset folder, served at ``resolution`` in ``face_type`` (re-aligned when needed)."""

    def __init__(self, folder: str | Path, resolution: int, face_type: str,
                 cache_bytes: int | None = None, with_yaw: bool = False):
        self.folder = Path(folder)
        self.paths = list_faces(self.folder)
        if not self.paths:
            raise FacecompError("faceset folder holds no face images (run facecomp extract first)", self.folder)
        self.metas = [read_meta(p) for p in self.paths]
        self.resolution = int(resolution)
        self.face_type = FaceType.parse(face_type)
        self.cache = FaceCache(prepare_face, cache_bytes)
        self.yaws = np.array([_yaw(m) for m in self.metas], np.float32) if with_yaw else None

    def __len__(self) -> int:
        return len(self.paths)

    def _job(self, index: int) -> tuple[Any, ...]:
        return self.paths[index], self.metas[index], self.resolution, self.face_type

    def load(self, index: int) -> FaceSample:
        """Face ``index`` at the model's resolution/face type (decoded once, then cached within the budget)."""
        return self.cache.get(index, self._job(index))

    def preload(self, workers: int) -> int:
        """Decode every face into the cache up front with ``workers`` processes (:meth:`FaceCache.preload`)."""
        return self.cache.preload({i: self._job(i) for i in range(len(self))}, workers, self.resolution**2 * 5,
                                  self.folder)

    def preview_indices(self, n: int) -> list[int]:
        """``n`` faces spread evenly over the faceset (the fixed preview faces)."""
        n = max(1, min(n, len(self)))
        return [int(i) for i in np.linspace(0, len(self) - 1, n).round()]


def prepare_face(path: Path, meta: FaceMeta, res: int, face_type: FaceType) -> FaceSample:
    """A face file at the model's resolution and face type (re-aligned when its type differs)."""
    image = read_image(path)
    if image.dtype != np.uint8:
        image = to_uint8(image)
    h, w = image.shape[:2]
    if meta.xseg_mask is not None:
        mask = decode_mask(meta.xseg_mask, path)
        if mask.shape != (h, w):
            mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR)
    else:
        mask = hull_mask(meta.landmarks * (w / meta.size), (h, w), meta.eyebrows_expand_mod)
    landmarks = np.asarray(meta.landmarks, np.float64) * (w / meta.size)
    if FaceType.parse(meta.face_type) != face_type:
        mat = transform_mat(landmarks, res, face_type)
        image = cv2.warpAffine(image, mat, (res, res), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        mask = cv2.warpAffine(mask, mat, (res, res), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        landmarks = transform_points(landmarks, mat)
    elif w != res:
        inter = cv2.INTER_AREA if w > res else cv2.INTER_CUBIC
        image = cv2.resize(image, (res, res), interpolation=inter)
        mask = cv2.resize(mask, (res, res), interpolation=cv2.INTER_LINEAR)
        landmarks = landmarks * (res / w)
    em = eyes_mouth_mask(landmarks, res) * (mask > 0.5)
    return FaceSample(np.ascontiguousarray(image), _mask_u8(mask), _mask_u8(em))


def _mask_u8(mask: np.ndarray) -> np.ndarray:
    return (np.clip(mask, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


class IndexSampler:
    """DFL's index host: shuffled epochs; with ``yaws`` a random non-empty yaw bin first (uniform_yaw)."""

    def __init__(self, count: int, rng: np.random.Generator, yaws: np.ndarray | None = None):
        self.rng = rng
        if yaws is None:
            groups = [np.arange(count)]
        else:
            edges = np.linspace(-YAW_RANGE, YAW_RANGE, YAW_BINS + 1)
            which = np.clip(np.digitize(yaws, edges) - 1, 0, YAW_BINS - 1)
            groups = [np.flatnonzero(which == b) for b in range(YAW_BINS)]
            groups = [g for g in groups if len(g)]
        self.groups = groups
        self.pending: list[list[int]] = [[] for _ in groups]
        self.group_order: list[int] = []

    def _draw(self, pool: list[int], items: np.ndarray) -> int:
        if not pool:
            pool.extend(self.rng.permutation(items).tolist())
        return pool.pop()

    def next(self) -> int:
        if len(self.groups) == 1:
            return int(self._draw(self.pending[0], self.groups[0]))
        g = self._draw(self.group_order, np.arange(len(self.groups)))
        return int(self._draw(self.pending[g], self.groups[g]))


def _to_float(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float32) * np.float32(1.0 / 255.0)


def color_transfer_fn(mode: str | None) -> Callable[[np.ndarray, np.ndarray], np.ndarray] | None:
    """DFL's ct_mode functions (engine.swap.color_transfer), or None for ``none``."""
    if mode in (None, "", "none"):
        return None
    from engine.swap import color_transfer as ct

    table: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
        "rct": ct.rct, "lct": ct.lct, "mkl": ct.mkl, "idt": ct.idt, "sot": ct.sot}
    if mode not in table:
        raise FacecompError(f"ct_mode {mode!r}: use one of none, {', '.join(table)}")
    return table[mode]


def make_sample(face: FaceSample, spec: SideSpec, rng: np.random.Generator,
                ct: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                ct_reference: FaceSample | None = None) -> tuple[np.ndarray, ...]:
    """(warped, target, mask, em_mask) of one face: float32 HxWxC, the same affine and flip for all four."""
    image = _to_float(face.image)
    if ct is not None and ct_reference is not None:
        image = ct(image, _to_float(ct_reference.image))
    params = warp_params(rng, spec.resolution, spec.flip, spec.scale_range)
    source = random_hsv(rng, image, spec.hsv_power) if spec.hsv_power > 0 else image
    warped = np.clip(apply_warp(source, params, warp=spec.random_warp), 0.0, 1.0)
    target = np.clip(apply_warp(image, params, warp=False), 0.0, 1.0)
    mask = apply_warp(_to_float(face.mask), params, warp=False, is_mask=True)
    em = apply_warp(_to_float(face.em_mask), params, warp=False, is_mask=True)
    top = float(em.max())
    if top > 0:
        em = em / top
    return warped, target, mask[..., None], em[..., None]


def make_batch(faceset: Faceset, sampler: IndexSampler, spec: SideSpec, batch: int, rng: np.random.Generator,
               ct_faceset: Faceset | None = None) -> dict[str, np.ndarray]:
    """One side's batch as NHWC float32 arrays: warped, target, mask, em_mask."""
    ct = color_transfer_fn(spec.ct_mode) if ct_faceset is not None else None
    rows = []
    for _ in range(batch):
        face = faceset.load(sampler.next())
        ref = ct_faceset.load(int(rng.integers(len(ct_faceset)))) if ct is not None and ct_faceset else None
        rows.append(make_sample(face, spec, rng, ct, ref))
    keys = ("warped", "target", "mask", "em_mask")
    return {k: np.stack([r[i] for r in rows]) for i, k in enumerate(keys)}


def make_raw_batch(faceset: Faceset, sampler: IndexSampler, spec: SideSpec, batch: int,
                   rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One side's batch for the device-side augmentation (engine.training.device_augment): ``faces`` (N,H,W,5)
    uint8 and the drawn ``inverse``, ``fine`` (and ``hsv``) arrays; the same draws, in the same order, as
    :func:`make_batch` makes with the same seed."""
    from engine.training.device_augment import draw_sample

    res = faceset.resolution
    faces = np.empty((batch, res, res, 5), np.uint8)
    inv, fine, hsv = [], [], []
    for i in range(batch):
        face = faceset.load(sampler.next())
        faces[i, ..., :3], faces[i, ..., 3], faces[i, ..., 4] = face.image, face.mask, face.em_mask
        a, b, c = draw_sample(rng, spec.resolution, spec.flip, spec.scale_range, spec.hsv_power)
        inv.append(a)
        fine.append(b)
        hsv.append(c)
    out: dict[str, np.ndarray] = {"faces": faces, "inverse": np.stack(inv).astype(np.float32),
                                  "fine": np.stack(fine).astype(np.float32)}
    if spec.hsv_power > 0:
        out["hsv"] = np.array(hsv, np.float32)
    return out


class BatchFeeder(Prefetcher):
    """Background threads that keep ``prefetch`` complete batches (src and dst) ready.

    ``get()`` returns ``{"src": {...}, "dst": {...}}`` of NHWC float32 arrays (``raw``: the uint8 faces and
    drawn parameters of :func:`make_raw_batch`, augmented later on the training device); an error in a worker
    is raised in the caller. ``close()`` stops the threads.
    """

    def __init__(self, src: Faceset, dst: Faceset, src_spec: SideSpec, dst_spec: SideSpec, batch: int,
                 seed: int = 0, workers: int = 1, prefetch: int = 2,
                 transform: Callable[[dict[str, Any]], Any] | None = None, raw: bool = False):
        self.src, self.dst, self.src_spec, self.dst_spec, self.batch = src, dst, src_spec, dst_spec, batch
        self.raw = raw
        super().__init__(self._start, seed, workers, prefetch, transform)

    def _start(self, rng: np.random.Generator) -> Callable[[], dict[str, Any]]:
        src_idx = IndexSampler(len(self.src), rng, self.src.yaws if self.src_spec.uniform_yaw else None)
        dst_idx = IndexSampler(len(self.dst), rng, self.dst.yaws if self.dst_spec.uniform_yaw else None)
        ct_set = self.dst if self.src_spec.ct_mode not in (None, "none") else None

        def make() -> dict[str, Any]:
            if self.raw:
                return {"src": make_raw_batch(self.src, src_idx, self.src_spec, self.batch, rng),
                        "dst": make_raw_batch(self.dst, dst_idx, self.dst_spec, self.batch, rng)}
            return {"src": make_batch(self.src, src_idx, self.src_spec, self.batch, rng, ct_set),
                    "dst": make_batch(self.dst, dst_idx, self.dst_spec, self.batch, rng)}

        return make
