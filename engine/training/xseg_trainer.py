"""XSeg training (DFL's Model_XSeg): labelled faces, DFL augmentations, RMSprop + lr_dropout, sigmoid CE.

``train_xseg`` creates or resumes a model folder (engine.xseg.checkpoint), trains until ``target_iter``
(or until interrupted, then saves), writes ``preview.png`` (predictions on labelled and unlabelled faces)
and appends to ``loss.jsonl``. ``auto=True`` is the self-supervised mode: no labels needed, targets are the
geometric masks and synthetic occluders are composited in front of the faces.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from engine.errors import FacecompError
from engine.faces.facetype import FaceType, face_type_option
from engine.media.image_io import write_image
from engine.options import Option, fixed_at_creation, load_config, parse_set, resolve
from engine.training import xseg_checkpoint
from engine.training.host_memory import keep_freed_memory
from engine.training.optimizers import DFLOptimizer, FlatParams
from engine.training.pending import HostSlots, PendingValues, ReadClock
from engine.training.precision import pipeline_on_device
from engine.training.xseg_samples import BatchMaker, XSegFaces, batch_tensors, sample_workers
from engine.xseg import checkpoint
from engine.xseg.data import FaceSample, scan_facesets, select_training
from engine.xseg.model import XSegNet, check_resolution
from engine.xseg.occluders import OccluderBank, load_textures
from engine.xseg.preview import preview_grid

log = logging.getLogger("facecomp")

XSEG_OPTIONS = [
    face_type_option("whole_face", "face type the model segments (fixed when the model is created)"),
    Option("resolution", 256, "model side in px, multiple of 64 (DFL fixes 256; fixed when the model is created)",
           low=64, high=1024),
    Option("batch_size", 4, "faces per iteration", low=1, high=64),
    Option("lr", 1e-4, "RMSprop learning rate", low=1e-7, high=1e-2),
    Option("lr_dropout", True, "update a random 30% of the weights per step, as DFL's XSeg"),
    Option("bf16", False, "bfloat16 autocast for forward/backward (faster on CPUs/GPUs with bf16)"),
    Option("auto", False, "self-supervised: geometric-mask targets + synthetic occluders, no labels needed"),
]
FIRST_RUN_ONLY = ("face_type", "resolution")


@dataclass
class TrainReport:
    iteration: int
    loss: float
    seconds: float
    samples: int
    losses: list[float] = field(default_factory=list)


def _device(name: str | None) -> torch.device:
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def make_optimizer(model: XSegNet, lr: float, lr_dropout: bool, seed: int) -> DFLOptimizer:
    """DFL's XSeg optimizer: RMSprop (+ lr_dropout 0.3) over the flat parameters, the swap trainer's optimizer."""
    return DFLOptimizer(FlatParams(list(model.named_parameters())), method="rmsprop", lr=lr, lr_dropout=lr_dropout,
                        name=checkpoint.OPTIMIZER_NAME, seed=seed)


def train_step(model: XSegNet, opt: DFLOptimizer, batch: Any, device: torch.device, bf16: bool) -> torch.Tensor:
    """One XSeg step: sigmoid cross-entropy of the logits against the target masks, backward, update. ``batch``:
    a BatchMaker batch (augmented on the device first when it is a raw device-pipeline batch) or tensors."""
    x, y = batch_tensors(batch, device)
    opt.flat.zero_grad()
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        logits = model(x)
    loss = F.binary_cross_entropy_with_logits(logits.float(), y)
    loss.backward()
    opt.step()
    return loss.detach()


def bench_step(faceset: str | os.PathLike[str], res: int, batch: int, bf16: bool, device: torch.device,
               pipeline: str = "auto") -> tuple[Callable[..., torch.Tensor], BatchMaker]:
    """bench/train_step.py's XSeg row: a step function over fresh weights and the batch maker of ``faceset``
    (every face trains, geometric targets, as ``--auto`` without occluders; ``pipeline``: where samples are
    augmented, as ``--sample-pipeline``). ``batch_tensors(maker.next(), device)`` freezes an augmented batch."""
    samples = select_training(scan_facesets([faceset]), auto=True)
    faces = XSegFaces(res, "whole_face")
    if device.type == "cuda":
        faces.preload(samples, max(1, (os.cpu_count() or 2) - 1))
    maker = BatchMaker(samples, faces, batch, 0, workers=sample_workers(device),
                       device_augment=pipeline_on_device(pipeline, device), pin=device.type == "cuda")
    model = XSegNet(res).to(device).train()
    opt = make_optimizer(model, 1e-4, True, 0)
    compiled = opt.compile_now()  # long runs switch to the fused update after 100 steps: measure that
    if compiled is not None:
        compiled.wait()

    def step(b: Any, eager: bool = True) -> torch.Tensor:
        return train_step(model, opt, b, device, bf16)

    return step, maker


def _preview_samples(all_samples: list[FaceSample], training: list[FaceSample], n: int = 4) -> list[FaceSample]:
    labelled = training[:: max(1, len(training) // n)][:n]
    chosen = {s.path for s in labelled}
    others = [s for s in all_samples if s.target != "label" and s.path not in chosen]
    return labelled + others[:: max(1, len(others) // n)][:n]


@torch.no_grad()
def predict(model: XSegNet, faces: np.ndarray, device: torch.device, bf16: bool = False, batch: int = 8) -> np.ndarray:
    """N x H x W x 3 float BGR faces at the model size -> N x H x W masks 0..1."""
    out = []
    model.eval()
    for i in range(0, len(faces), batch):
        x = torch.from_numpy(np.ascontiguousarray(faces[i:i + batch].transpose(0, 3, 1, 2))).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            y = model.mask(x)
        out.append(y.float()[:, 0].cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0,) + faces.shape[1:3], np.float32)


def write_preview(folder: Path, model: XSegNet, loader: XSegFaces, samples: list[FaceSample], device: torch.device,
                  bf16: bool) -> Path:
    faces = [loader.load(s) for s in samples]
    preds: list[np.ndarray] = list(predict(model, np.stack([f for f, _ in faces]), device, bf16)) if faces else []
    labels = [m if s.target == "label" else None for s, (_, m) in zip(samples, faces, strict=True)]
    grid = preview_grid([f for f, _ in faces], list(preds), labels)
    write_image(folder / "preview.png", grid)
    return folder / "preview.png"


def _same(key: str, asked: Any, stored: Any) -> bool:
    if key == "face_type":
        return FaceType.parse(asked) == FaceType.parse(stored)
    return bool(asked == stored)


def _resolve_options(folder: Path, options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    stored = None
    if (folder / checkpoint.MODEL_JSON).is_file():
        stored = checkpoint.read_meta(folder)
        for key in FIRST_RUN_ONLY:
            old = stored.get("options", {}).get(key)
            if old is not None and options.get(key) is not None and not _same(key, options[key], old):
                raise fixed_at_creation(key, old, options[key], folder)
            if old is not None:
                options[key] = old
    options["face_type"] = FaceType.parse(options["face_type"]).label
    check_resolution(int(options["resolution"]))
    return options, stored


def train_xseg(folder: str | os.PathLike[str], facesets: Sequence[str | os.PathLike[str]], options: dict[str, Any],
               target_iter: int = 0, max_seconds: float | None = None, save_minutes: float = 25.0,
               preview_every: int = 100, seed: int | None = None, device: str | None = None,
               occluder_sources: Sequence[str | os.PathLike[str]] = (),
               on_iter: Callable[[int, float], None] | None = None, pipeline: str = "auto") -> TrainReport:
    """Train (or resume) the XSeg model in ``folder``; returns the last iteration and mean recent loss.
    ``pipeline``: where samples are augmented (auto: on the device on CUDA, on the host on CPU; device; host)."""
    folder = Path(folder)
    options, stored = _resolve_options(folder, dict(options))
    dev = _device(device)
    device_augment = pipeline_on_device(pipeline, dev)
    all_samples = scan_facesets(facesets)
    training = select_training(all_samples, bool(options["auto"]))
    res, ft = int(options["resolution"]), options["face_type"]
    if stored is not None:
        model, _ = checkpoint.load_model(folder)
        iteration = int(stored.get("iteration", 0))
        seconds = float(stored.get("training_seconds", 0.0))
    else:
        if seed is not None:
            torch.manual_seed(seed)
        model, iteration, seconds = XSegNet(res), 0, 0.0
    model.to(dev).train()
    opt = make_optimizer(model, float(options["lr"]), bool(options["lr_dropout"]),
                         int(seed if seed is not None else time.time_ns() % (1 << 31)) + iteration)
    if stored is not None:
        opt.load_state_tensors(checkpoint.optimizer_tensors(checkpoint.load_optimizer_state(folder), opt.name))
    loader = XSegFaces(res, ft)
    if dev.type == "cuda":  # decode up front in processes (when the faces fit the cache), as the swap trainer
        loader.preload(training, max(1, (os.cpu_count() or 2) - 1))
    else:
        keep_freed_memory()  # as the swap trainer: the step's buffers are not faulted in again every iteration
    bank = None
    if options["auto"]:
        textures = load_textures(occluder_sources)
        faces_fn = (lambda rng: loader.load(training[int(rng.integers(len(training)))]))  # noqa: E731
        textures += _faceset_backgrounds(loader, training, 16)
        bank = OccluderBank(textures, faces_fn)
    preview = _preview_samples(all_samples, training)
    maker = BatchMaker(training, loader, int(options["batch_size"]), (seed or 0) + iteration * 7919, bank,
                       workers=sample_workers(dev), device_augment=device_augment, pin=dev.type == "cuda")
    bf16 = bool(options["bf16"])
    log.info("XSeg %s: %d training faces (%s), %d px %s, batch %d, from iteration %d, augmented on the %s",
             folder, len(training), "auto" if options["auto"] else "labelled", res, ft, options["batch_size"],
             iteration, "device" if device_augment else "host")
    losses: list[float] = []
    if 0 < target_iter <= iteration:
        maker.close()
        log.info("XSeg %s is already at iteration %d (target %d): nothing to do", folder, iteration, target_iter)
        return TrainReport(iteration, float(stored.get("loss") or float("nan")) if stored else float("nan"),
                           seconds, len(training))
    start = last_save = time.monotonic()
    base_seconds = seconds

    def save() -> None:
        nonlocal last_save
        elapsed = base_seconds + time.monotonic() - start
        xseg_checkpoint.save_checkpoint(folder, model, iteration, options, opt.state_tensors(),
                                   {"training_seconds": round(elapsed, 1), "samples": len(training),
                                    "loss": round(float(np.mean(losses[-50:])), 5) if losses else None})
        with open(folder / "loss.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps({"iteration": iteration, "loss": float(np.mean(losses[-50:])) if losses else None,
                                "seconds": round(elapsed, 1)}) + "\n")
        write_preview(folder, model, loader, preview, dev, bf16)
        model.train()
        last_save = time.monotonic()

    slots = HostSlots(dev, 1)
    pending: tuple[int, float, PendingValues] | None = None  # a queued step whose loss is not read yet (CUDA)
    clock = ReadClock()

    def record(queued: tuple[int, float, PendingValues]) -> None:
        it, t0, value = queued
        losses.append(value.get()[0])
        ms = clock.lap(t0)
        if not np.isfinite(losses[-1]):
            raise FacecompError(f"training diverged at iteration {it} (loss {losses[-1]})", folder)
        if on_iter is not None:
            on_iter(it, losses[-1])
        if it % 10 == 0 or it == target_iter:
            log.info("[#%06d][%.0fms][%.4f]", it, ms, np.mean(losses[-10:]))

    try:
        while target_iter <= 0 or iteration < target_iter:
            t0 = time.perf_counter()
            loss = train_step(model, opt, maker.next(), dev, bf16)
            iteration += 1
            queued = (iteration, t0, slots.pending(loss))
            if pending is not None:  # the step before: read while this one runs (engine.training.pending)
                record(pending)
            pending = queued
            preview_due = bool(preview_every and iteration % preview_every == 0)
            save_due = time.monotonic() - last_save > save_minutes * 60
            out_of_time = max_seconds is not None and time.monotonic() - start > max_seconds
            last = 0 < target_iter <= iteration
            if slots.defers and not (preview_due or save_due or out_of_time or last):
                continue
            record(pending)
            pending = None
            if preview_due:
                write_preview(folder, model, loader, preview, dev, bf16)
                model.train()
            if save_due:
                save()
            if out_of_time:
                break
    except KeyboardInterrupt:
        log.info("interrupted: saving iteration %d", iteration)
        if pending is not None:
            record(pending)
        save()
        raise
    finally:
        maker.close()
    save()
    return TrainReport(iteration, float(np.mean(losses[-50:])) if losses else float("nan"),
                       base_seconds + time.monotonic() - start, len(training), losses)


def _faceset_backgrounds(loader: XSegFaces, samples: list[FaceSample], n: int) -> list[np.ndarray]:
    """Texture images from the faceset itself: faces with their face area blurred away (clothes, hair, room)."""
    import cv2

    out = []
    for s in samples[:: max(1, len(samples) // n)][:n]:
        img, mask = loader.load(s)
        k = int(img.shape[0] // 4) | 1
        blurred = cv2.GaussianBlur(img, (k, k), 0)
        out.append(img * (1 - mask[..., None]) + blurred * mask[..., None])
    return out


def plan_options(folder: str | os.PathLike[str], flags: dict[str, Any] | None = None,
                 config: str | os.PathLike[str] | None = None, sets: Sequence[str] | None = None) -> dict[str, Any]:
    """The XSeg options of a run from plain values: defaults < the model's stored options < config file < ``--set``
    items < flags (name -> value, None = not given), each checked once; errors name their source."""
    stored: dict[str, Any] = {}
    if (Path(folder) / checkpoint.MODEL_JSON).is_file():
        found = checkpoint.read_meta(folder).get("options", {})
        stored = found if isinstance(found, dict) else {}
    values = load_config(config) if config else None
    return resolve(XSEG_OPTIONS, flags, stored=stored, config=values, overrides=parse_set(sets),
                   config_name=str(config or "config"))
