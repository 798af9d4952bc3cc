"""XSeg's training samples on the swap trainer's sample pipeline.

Faces are prepared by engine.xseg.data (model size and face type, the training target) and kept by the shared
uint8 face cache (engine.training.samples.FaceCache: a byte budget sized from the machine, decoded up front in
processes when feeding a GPU), and batches come from the shared background prefetcher
(engine.training.prefetch). Each sample gets DFL's XSeg augmentation chain (engine.training.xseg_augment) with the
optional synthetic occluders of ``--auto`` (engine.xseg.occluders).
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import torch

from engine.faces.facetype import FaceType
from engine.training.prefetch import Prefetcher
from engine.training.samples import FaceCache
from engine.training.xseg_augment import augment
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

    def load(self, sample: FaceSample) -> tuple[np.ndarray, np.ndarray]:
        img8, m8 = self.cache.get((sample.path, sample.target), self._job(sample))
        return img8.astype(np.float32) / 255.0, m8.astype(np.float32) / 255.0

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
    """Augmented XSeg batches (NCHW image, N1HW mask, float32) built by background sample threads."""

    def __init__(self, samples: list[FaceSample], faces: XSegFaces, batch_size: int, seed: int,
                 bank: OccluderBank | None = None, prefetch: int = 2, workers: int = 1):
        self.samples, self.faces, self.batch_size, self.bank = samples, faces, batch_size, bank
        super().__init__(lambda rng: lambda: self.make(rng), seed, workers, max(prefetch, workers),
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

    def next(self) -> tuple[np.ndarray, np.ndarray]:
        return self.get()
