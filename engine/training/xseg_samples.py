"""XSeg's training samples on the swap trainer's sample pipeline.

Faces are prepared by engine.xseg.data (model size and face type, the training target) and kept by the shared
uint8 face cache (engine.training.samples.FaceCache: a byte budget sized from the machine, decoded up front in
processes when feeding a GPU), and batches come from the shared background prefetcher
(engine.training.prefetch). Each sample gets DFL's XSeg augmentation chain (engine.training.xseg_augment) with the
optional synthetic occluders of ``--auto`` (engine.xseg.occluders): on the host (OpenCV, in the sample threads),
or on the training device (``pipeline="device"``, the default on CUDA): the threads then draw the chain's random
numbers, apply the occluders (rounded back to uint8) and ship uint8 faces, masks, background faces and the
packed draws (pinned on CUDA), and :func:`batch_tensors` augments them on the device
(engine.training.xseg_device_augment) before the step.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import torch

from engine.faces.facetype import FaceType
from engine.media.image_io import to_float, to_uint8
from engine.training import xseg_device_augment
from engine.training.prefetch import Prefetcher
from engine.training.samples import FaceCache
from engine.training.xseg_augment import augment, draw_chain
from engine.xseg.data import FaceSample, prepare_face
from engine.xseg.occluders import OccluderBank, occlude


class XSegFaces:
    """Faces at the model size with their targets, as float32 (image BGR 0..1, mask 0..1), from the cache."""

    def __init__(self, resolution: int, face_type: FaceType | str, cache_bytes: int | None = None):
        self.resolution = int(resolution)
        self.face_type = FaceType.parse(face_type)
        self.cache = FaceCache(prepare_face, cache_bytes)

    def _job(self, sample: FaceSample) -> tuple[Any, ...]:
        return sample.path, sample.meta, sample.target, self.resolution, self.face_type

    def load_uint8(self, sample: FaceSample) -> tuple[np.ndarray, np.ndarray]:
        """The cached uint8 face (HxWx3 BGR) and target (HxW)."""
        img8, m8 = self.cache.get((sample.path, sample.target), self._job(sample))
        return img8, m8

    def load(self, sample: FaceSample) -> tuple[np.ndarray, np.ndarray]:
        img8, m8 = self.load_uint8(sample)
        return to_float(img8), to_float(m8)

    def image(self, sample: FaceSample) -> np.ndarray:
        return self.load(sample)[0]

    def preload(self, samples: Sequence[FaceSample], workers: int) -> int:
        """Decode ``samples`` up front in ``workers`` processes when they all fit the cache (FaceCache.preload)."""
        jobs: dict[Hashable, tuple[Any, ...]] = {(s.path, s.target): self._job(s) for s in samples}
        folder = samples[0].path.parent if samples else None
        return self.cache.preload(jobs, workers, self.resolution**2 * 4, folder) if folder else 0


def sample_workers(device: torch.device) -> int:
    """Sample threads: one on CPU (the step needs the cores), up to 8 feeding a GPU (OpenCV releases the GIL)."""
    return max(1, min(8, (os.cpu_count() or 2) // 2)) if device.type == "cuda" else 1


class BatchMaker(Prefetcher):
    """Augmented XSeg batches built by background sample threads: (NCHW image, N1HW mask) float32 arrays, or
    with ``device_augment`` the raw batch for :func:`batch_tensors` (uint8 ``faces`` and ``backgrounds``
    (N,H,W,4: BGR + mask), the packed draws; tensors, pinned when ``pin``)."""

    def __init__(self, samples: list[FaceSample], faces: XSegFaces, batch_size: int, seed: int,
                 bank: OccluderBank | None = None, prefetch: int = 2, workers: int = 1, device_augment: bool = False,
                 pin: bool = False):
        self.samples, self.faces, self.batch_size, self.bank = samples, faces, batch_size, bank
        self.device_augment, self.pin = device_augment, pin
        make = self.make_raw if device_augment else self.make
        super().__init__(lambda rng: lambda: make(rng), seed, workers, max(prefetch, workers),
                         name="facecomp-xseg-samples")

    def other_face(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return self.faces.load(self.samples[int(rng.integers(len(self.samples)))])

    def make(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        imgs, masks = [], []
        for _ in range(self.batch_size):
            img, mask = self.faces.load(self.samples[int(rng.integers(len(self.samples)))])
            bg = self.other_face(rng) if len(self.samples) > 1 else None
            if self.bank is not None:
                img, mask = occlude(img, mask, self.bank, rng)
            img, mask = augment(img, mask, rng, background=bg)
            imgs.append(img)
            masks.append(mask)
        return np.stack(imgs).transpose(0, 3, 1, 2), np.stack(masks)[:, None]

    def make_raw(self, rng: np.random.Generator) -> dict[str, Any]:
        """The device pipeline's batch: the same generator calls as :meth:`make` (sample, other face, occluders,
        the chain's draws), the augmentation itself left to the device."""
        faces, backgrounds, draws = [], [], []
        for _ in range(self.batch_size):
            img8, m8 = self.faces.load_uint8(self.samples[int(rng.integers(len(self.samples)))])
            bg = self.faces.load_uint8(self.samples[int(rng.integers(len(self.samples)))]) \
                if len(self.samples) > 1 else None
            if self.bank is not None:
                img, mask = occlude(to_float(img8), to_float(m8), self.bank, rng)
                img8, m8 = to_uint8(img), to_uint8(mask)
            draws.append(draw_chain(rng, img8.shape[0], bg is not None))
            faces.append(np.dstack([img8, m8]))
            backgrounds.append(np.dstack(bg) if bg is not None else np.zeros_like(faces[-1]))
        packed = xseg_device_augment.pack_draws(draws)
        host = {k: packed.pop(k) for k in xseg_device_augment.HOST_KEYS}
        arrays = {"faces": np.stack(faces), "backgrounds": np.stack(backgrounds), **packed}
        tensors = {k: torch.from_numpy(a) for k, a in arrays.items()}
        return {"tensors": {k: t.pin_memory() for k, t in tensors.items()} if self.pin else tensors, "host": host}

    def next(self) -> Any:
        return self.get()


XSegBatch = tuple[torch.Tensor, torch.Tensor]


def batch_tensors(batch: Any, device: torch.device) -> XSegBatch:
    """A batch of :class:`BatchMaker` (host arrays, a raw device-pipeline batch, or tensors already) as NCHW
    image and N1HW mask float32 tensors on ``device``; a raw batch is augmented there (no grad)."""
    if isinstance(batch, dict):
        t = {k: v.to(device, non_blocking=True) for k, v in batch["tensors"].items()}
        with torch.no_grad():
            return xseg_device_augment.augment_batch(t.pop("faces"), t.pop("backgrounds"), t, batch["host"])
    x, y = batch
    if isinstance(x, torch.Tensor):
        return x.to(device), y.to(device)
    return torch.from_numpy(x).to(device, non_blocking=True), torch.from_numpy(y).to(device, non_blocking=True)
