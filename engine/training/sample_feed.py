"""The swap trainer's sample feed: facesets, DFL's per-side sample options, background batches, preview faces.

:class:`SampleFeed` turns a run's options into the two sides' :class:`SideSpec` (DFL's sample processor options
for src and dst), opens the facesets (decoded up front in processes when feeding a GPU), starts the background
:class:`BatchFeeder` and hands the trainer one batch per iteration: NCHW float32 tensors on the training device,
augmented on the host (OpenCV) or on the device (engine.training.device_augment, the default on CUDA).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from engine.training.precision import pipeline_on_device
from engine.training.preview import preview_rows
from engine.training.samples import BatchFeeder, Faceset, SideSpec

Batch = dict[str, dict[str, torch.Tensor]]


def batch_to_torch(item: dict[str, dict[str, Any]], pin: bool, raw: bool = False) -> Batch:
    """NumPy arrays of a batch as tensors: NHWC -> NCHW (``raw``: as they are), pinned when ``pin``."""
    out: Batch = {}
    for side, arrays in item.items():
        out[side] = {}
        for k, a in arrays.items():
            t = torch.from_numpy(a) if raw else torch.from_numpy(a).permute(0, 3, 1, 2).contiguous()
            out[side][k] = t.pin_memory() if pin else t
    return out


def side_specs(options: dict[str, Any], res: int, pretrain: bool, flips: bool,
               sample_scale: float) -> tuple[SideSpec, SideSpec]:
    """DFL's src and dst sample options from the model options (pretraining: no warp, no colour work, flips)."""
    o = options
    uniform_yaw = bool(o.get("uniform_yaw", False)) or pretrain
    scale = (-sample_scale, sample_scale)
    warp = bool(o.get("random_warp", True)) and not pretrain
    ct = None if pretrain else o.get("ct_mode", "none")
    src = SideSpec(res, warp, (bool(o.get("random_src_flip", False)) or pretrain) and flips, scale,
                   0.0 if pretrain else float(o.get("random_hsv_power", 0.0)), ct, uniform_yaw)
    dst = SideSpec(res, warp, (bool(o.get("random_dst_flip", True)) or pretrain) and flips, scale, 0.0, None,
                   uniform_yaw)
    return src, dst


def augment_on_device(pipeline: str, device: torch.device, src_spec: SideSpec) -> bool:
    """Device-side augmentation: asked for, or auto on CUDA (precision.pipeline_on_device); colour transfer
    (ct_mode) stays on the host."""
    on_device = pipeline_on_device(pipeline, device)
    return on_device and src_spec.ct_mode in (None, "", "none")


class SampleFeed:
    """Batches for the trainer (see the module doc); ``close()`` stops the background threads."""

    def __init__(self, trainer: Any):
        t, s = trainer, trainer.s
        pre = t.recipe.pretrain
        self.device = t.device
        self.unwarped_every = t.facts.unwarped_every
        uniform_yaw = bool(t.options.get("uniform_yaw", False)) or pre
        ft = t.model.face_type
        src_set = Faceset(s.src, t.res, ft, with_yaw=uniform_yaw)
        dst_set = src_set if pre and s.dst == s.src else Faceset(s.dst, t.res, ft, with_yaw=uniform_yaw)
        src_spec, dst_spec = side_specs(t.options, t.res, pre, t.facts.flips, t.facts.sample_scale)
        self.batch = max(1, int(t.options.get("batch_size", 4)) // t.dist.world)
        pin = self.device.type == "cuda"
        workers = s.workers or (min(4, max(1, (os.cpu_count() or 2) // 2)) if pin else 1)
        on_device = augment_on_device(s.pipeline, self.device, src_spec)
        augment = {"src": src_spec.random_warp, "dst": dst_spec.random_warp}
        self.device_augment = augment if on_device else None  # per side: random warp, when augmenting on the device
        if pin:  # decode the facesets up front in processes (those that fit the cache)
            for faceset in {id(src_set): src_set, id(dst_set): dst_set}.values():
                faceset.preload(max(1, ((os.cpu_count() or 2) - 1) // t.dist.world))
        transform: Any = lambda item: batch_to_torch(item, pin, on_device)  # noqa: E731
        self.stream_augment: Any = None
        if on_device and pin and os.environ.get("FACECOMP_AUGMENT_STREAM", "1") != "0":
            from engine.training.device_augment import StreamAugmenter

            transform = self.stream_augment = StreamAugmenter(self.device, augment)
        self.feeder = BatchFeeder(src_set, dst_set, src_spec, dst_spec, self.batch,
                                  seed=s.seed * 7919 + t.dist.rank + 1, workers=workers,
                                  transform=transform, raw=on_device)
        n = preview_rows(self.batch, t.res)
        self.preview_src = self.faces(src_set, n)
        self.preview_dst = self.faces(dst_set, n)
        self.last_batch: Batch | None = None

    def faces(self, faceset: Faceset, n: int) -> torch.Tensor:
        """``n`` fixed faces of ``faceset`` as NCHW float 0..1 on the device (the preview rows)."""
        imgs = [faceset.load(i).image for i in faceset.preview_indices(n)]
        t = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 255.0
        return t.to(self.device)

    def next(self, iteration: int) -> Batch:
        """DFL's batch for ``iteration`` (Quick96 re-uses the previous batch unwarped every 3rd iteration)."""
        every = self.unwarped_every
        if every and iteration % every == 0 and self.last_batch is not None:
            b = {side: dict(v) for side, v in self.last_batch.items()}
            for side in b:
                b[side]["warped"] = b[side]["target"]
            return b
        raw = self.feeder.get()
        if self.stream_augment is not None:  # augmented by the sample threads on their streams
            self.last_batch = self.stream_augment.ready(raw)
            return self.last_batch
        b = {side: {k: v.to(self.device, non_blocking=True) for k, v in arrays.items()}
             for side, arrays in raw.items()}
        if self.device_augment is not None:
            from engine.training.device_augment import augment_batch

            b = augment_batch(b, self.device_augment)
        self.last_batch = b
        return b

    def close(self) -> None:
        self.feeder.close()
