"""The device-side sample augmentation (engine.training.device_augment), run on the CPU device, against the CPU
pipeline (engine.training.samples.make_sample): the same draws for a seed, the same target geometry, the same
warp displacement statistics."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.training.augment import dense_maps, draw_warp
from engine.training.device_augment import (
    FINE_CELLS,
    augment_side,
    bgr_to_hsv,
    draw_side,
    fine_lattice,
    hsv_to_bgr,
    normalise,
)


def _dense_from_lattice(fine: np.ndarray, w: int) -> np.ndarray:
    """The device's warp map at every integer pixel of side ``w`` (2, w, w)."""
    cell = w / FINE_CELLS
    r = torch.arange(w, dtype=torch.float32)
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    u = (torch.stack([xx, yy], -1)[None] + (w // FINE_CELLS) // 2 + 0.5) / cell - 0.5
    grid = torch.from_numpy(fine).float()[None]
    return F.grid_sample(grid, normalise(u, FINE_CELLS + 1), mode="bilinear", padding_mode="border",
                         align_corners=True)[0].numpy()


@pytest.mark.parametrize("size", [64, 96, 128, 224, 256])
def test_warp_lattice_is_the_cpu_warp_map(size: int) -> None:
    rng = np.random.default_rng(size)
    for _ in range(12):
        d = draw_warp(rng, size, flip=True)
        mapx, mapy = dense_maps(d)
        dense = _dense_from_lattice(fine_lattice(d), d.w)
        assert np.abs(dense[0] - mapx).max() < 2e-3 and np.abs(dense[1] - mapy).max() < 2e-3


def test_warp_displacement_statistics_match() -> None:
    """Per-pixel displacement of the warp: the same distribution (mean, spread, tails) as the CPU maps."""
    rng = np.random.default_rng(7)
    cpu, dev = [], []
    ident = np.arange(128, dtype=np.float32)
    for _ in range(60):
        d = draw_warp(rng, 128, flip=False)
        mapx, mapy = dense_maps(d)
        dense = _dense_from_lattice(fine_lattice(d), d.w)
        cpu.append(np.hypot(mapx - ident[None], mapy - ident[:, None]).ravel())
        dev.append(np.hypot(dense[0] - ident[None], dense[1] - ident[:, None]).ravel())
    cpu_d, dev_d = np.concatenate(cpu), np.concatenate(dev)
    assert cpu_d.mean() > 0.5  # the warp moves pixels
    for q in (0.5, 0.9, 0.99):
        assert abs(np.quantile(cpu_d, q) - np.quantile(dev_d, q)) < 0.01


def test_hsv_conversion_matches_opencv() -> None:
    img = np.random.default_rng(0).random((32, 32, 3), dtype=np.float32)
    ref = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    hsv = bgr_to_hsv(torch.from_numpy(img).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    assert np.abs(hsv[..., 1:] - ref[..., 1:]).max() < 1e-5
    hue = np.abs(hsv[..., 0] - ref[..., 0])
    assert np.minimum(hue, 360 - hue).max() < 1e-2
    back = hsv_to_bgr(torch.from_numpy(hsv).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    assert np.abs(back - img).max() < 1e-5


@pytest.mark.parametrize(("flip", "hsv", "warp"), [(False, 0.0, False), (True, 0.0, True), (True, 0.3, True)])
def test_same_seed_same_samples_as_the_cpu_pipeline(src_faces: Path, flip: bool, hsv: float, warp: bool) -> None:
    """A seed gives the CPU pipeline's affine, flip and HSV: targets and masks equal (same cubic/linear
    sampling); the warped input differs only by resampling once instead of twice."""
    from engine.training.samples import Faceset, SideSpec, make_sample

    faces = Faceset(src_faces, 96, "wf")
    face = faces.load(2)
    spec = SideSpec(96, warp, flip, hsv_power=hsv)
    rng = np.random.default_rng(11)
    cpu = [make_sample(face, spec, rng) for _ in range(8)]
    params = draw_side(np.random.default_rng(11), 8, 96, flip, spec.scale_range, hsv)
    out = augment_side(torch.from_numpy(np.stack([face.packed()] * 8)), torch.from_numpy(params.inverse),
                       torch.from_numpy(params.fine), None if params.hsv is None else torch.from_numpy(params.hsv),
                       warp)
    for key, i in (("target", 1), ("mask", 2), ("em_mask", 3)):
        ref = np.stack([c[i] for c in cpu])
        got = out[key].permute(0, 2, 3, 1).numpy()
        assert np.abs(ref - got).max() < 2e-3, key
    ref = np.stack([c[0] for c in cpu])
    got = out["warped"].permute(0, 2, 3, 1).numpy()
    assert np.abs(ref - got).mean() < 0.01 and np.quantile(np.abs(ref - got), 0.99) < 0.08
    if warp:
        assert np.abs(got - out["target"].permute(0, 2, 3, 1).numpy()).mean() > 0.005  # the input is warped
    else:
        assert torch.equal(out["warped"], out["target"])


def test_trainer_batches_from_the_device_pipeline(src_faces: Path, dst_faces: Path, tmp_path: Path) -> None:
    """The trainer with pipeline=device on CPU: NCHW float batches in range, one step runs."""
    from engine.models import normalize_options
    from engine.training.trainer import Trainer, TrainSettings

    opts = normalize_options("saehd", {"resolution": 64, "archi": "df-ud", "ae_dims": 32, "e_dims": 16,
                                       "d_dims": 16, "d_mask_dims": 16, "batch_size": 2, "face_type": "wf"})
    t = Trainer(TrainSettings(model_dir=tmp_path, kind="saehd", options=opts, src=src_faces, dst=dst_faces,
                              device="cpu", precision="fp32", preview_every=0, quiet=True, pipeline="device"))
    t.setup()
    try:
        batch = t.next_batch()
        assert batch["src"]["warped"].shape == (2, 3, 64, 64) and batch["dst"]["mask"].shape == (2, 1, 64, 64)
        assert float(batch["src"]["target"].min()) >= 0 and float(batch["src"]["target"].max()) <= 1
        assert float(batch["dst"]["em_mask"].amax()) == pytest.approx(1.0)
        stats = t.step(batch)
        assert np.isfinite(stats["loss_src"]) and np.isfinite(stats["loss_dst"])
    finally:
        t.feeder.close()


def test_graph_step_body_is_the_eager_step(src_faces: Path, dst_faces: Path, tmp_path: Path) -> None:
    """What the CUDA graph captures (GraphedStep._body: tensor learning rate, clipping on the device) updates the
    weights exactly as the eager Trainer.step does (run here on the CPU device, without capture)."""
    from engine.models import normalize_options
    from engine.training.graph_step import GraphedStep
    from engine.training.trainer import Trainer, TrainSettings

    opts = normalize_options("saehd", {"resolution": 64, "archi": "liae-ud", "ae_dims": 32, "e_dims": 16,
                                       "d_dims": 16, "d_mask_dims": 16, "batch_size": 2, "face_type": "wf",
                                       "clipgrad": True})
    trainers = []
    for name in ("eager", "graph"):
        t = Trainer(TrainSettings(model_dir=tmp_path / name, kind="saehd", options=opts, src=src_faces,
                                  dst=dst_faces, device="cpu", precision="fp32", preview_every=0, quiet=True))
        t.setup()
        t.feeder.close()
        trainers.append(t)
    eager, graph = trainers
    assert torch.equal(eager.flat.data, graph.flat.data)
    from engine.training.samples import IndexSampler, make_batch

    rng = np.random.default_rng(3)
    raw = {s: make_batch(eager.feeder.src, IndexSampler(len(eager.feeder.src), rng), eager.feeder.src_spec, 2, rng)
           for s in ("src", "dst")}
    batch = {s: {k: torch.from_numpy(v).permute(0, 3, 1, 2).contiguous() for k, v in d.items()}
             for s, d in raw.items()}
    before = eager.flat.data.clone()
    stats = eager.step(batch)
    assert not torch.equal(before, eager.flat.data)
    step = GraphedStep(graph)
    step._load(batch)
    step.lr.fill_(graph.opt.current_lr())
    step._body()
    assert float(graph.flat.extra[0]) == pytest.approx(stats["loss_src"], rel=1e-5)
    assert torch.allclose(eager.flat.data, graph.flat.data, atol=1e-7, rtol=0)


def test_raw_batch_draws_what_make_batch_draws(src_faces: Path) -> None:
    """make_raw_batch + the device augmentation = make_batch for one seed (faces, affines, flips, order)."""
    from engine.training.samples import Faceset, IndexSampler, SideSpec, make_batch, make_raw_batch

    faces = Faceset(src_faces, 64, "wf")
    spec = SideSpec(64, random_warp=False, flip=True)
    rng = np.random.default_rng(5)
    raw = make_raw_batch(faces, IndexSampler(len(faces), rng), spec, 6, rng)
    rng = np.random.default_rng(5)
    ref = make_batch(faces, IndexSampler(len(faces), rng), spec, 6, rng)
    out = augment_side(*(torch.from_numpy(raw[k]) for k in ("faces", "inverse", "fine")), None, False)
    for key in ("target", "mask", "em_mask"):
        assert np.abs(out[key].permute(0, 2, 3, 1).numpy() - ref[key]).max() < 2e-3, key
