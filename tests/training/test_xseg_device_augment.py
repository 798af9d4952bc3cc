"""XSeg's augmentation chain on the device (engine.training.xseg_device_augment), run on the CPU device, against
the OpenCV chain (engine.training.xseg_augment): same draws for a seed -> the same mask and geometry, each
operation against its OpenCV counterpart on a real face, the chain's statistics, and a CLI training run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from engine.training import xseg_augment as xa
from engine.training import xseg_device_ops as ops
from engine.training.device_augment import shift_hsv
from engine.training.xseg_device_augment import HOST_KEYS, augment_batch, pack_draws
from engine.training.xseg_samples import BatchMaker, XSegFaces, batch_tensors
from engine.xseg.data import scan_facesets, select_training
from tests.conftest import run_facecomp

RES = 128


@pytest.fixture(scope="module")
def faces(dst_faces: Path) -> tuple[XSegFaces, list]:
    samples = select_training(scan_facesets([dst_faces]), auto=True)
    return XSegFaces(RES, "whole_face"), samples


def _nchw(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float()


def _hwc(t: torch.Tensor) -> np.ndarray:
    return t[0].permute(1, 2, 0).numpy()


def _device_chain(face: tuple, bg: tuple, draw: xa.XSegDraw) -> tuple[np.ndarray, np.ndarray]:
    packed = pack_draws([draw])
    host = {k: packed.pop(k) for k in HOST_KEYS}
    img, mask = augment_batch(torch.from_numpy(np.dstack(face)[None]), torch.from_numpy(np.dstack(bg)[None]),
                              {k: torch.from_numpy(v) for k, v in packed.items()}, host)
    return _hwc(img), mask[0, 0].numpy()


def _both(faces: tuple[XSegFaces, list], seed: int) -> tuple[np.ndarray, ...]:
    """One seed's sample through both chains: CPU image, CPU mask, device image, device mask."""
    loader, samples = faces
    rng = np.random.default_rng(seed)
    face = loader.load_uint8(samples[seed % len(samples)])
    bg = loader.load_uint8(samples[(seed * 7 + 3) % len(samples)])
    draw = xa.draw_chain(rng, RES, True)
    f32 = [(a.astype(np.float32) / 255.0) for a in (*face, *bg)]
    cpu_img, cpu_mask = xa.apply_chain(f32[0], f32[1], draw, (f32[2], f32[3]))
    return (cpu_img, cpu_mask, *_device_chain(face, bg, draw))


def test_same_seed_gives_the_cpu_chains_mask_and_image(faces) -> None:
    """Same draws -> the same binarised mask on >= 99.5 % of pixels (the warp is resampled once on the device,
    twice by OpenCV), the same mask centroid (target geometry) within 0.3 px, and nearly the same image."""
    equal, mad = [], []
    for seed in range(10):
        cpu_img, cpu_mask, dev_img, dev_mask = _both(faces, seed)
        equal.append(float((cpu_mask == dev_mask).mean()))
        mad.append(float(np.abs(cpu_img - dev_img).mean()))
        assert equal[-1] > 0.995, f"seed {seed}: {equal[-1]:.4f} of the mask equal"
        ys, xs = np.nonzero(cpu_mask)
        dys, dxs = np.nonzero(dev_mask)
        assert abs(ys.mean() - dys.mean()) < 0.3 and abs(xs.mean() - dxs.mean()) < 0.3
        assert mad[-1] < 3 / 255, f"seed {seed}: mean abs image difference {mad[-1] * 255:.2f}/255"
    print(f"mask pixels equal: {np.mean(equal):.4f} (min {min(equal):.4f}); image MAD {np.mean(mad) * 255:.2f}/255")


def test_the_device_batch_draws_as_the_host_batch(faces) -> None:
    """BatchMaker's device batches consume the generator as its host batches: the same faces and draws."""
    loader, samples = faces
    host, dev = (BatchMaker(samples, loader, 3, 0, device_augment=d) for d in (False, True))
    host.close()
    dev.close()
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    x_host, y_host = host.make(a)
    x_dev, y_dev = batch_tensors(dev.make_raw(b), torch.device("cpu"))
    assert a.integers(1 << 30) == b.integers(1 << 30)
    assert x_dev.shape == x_host.shape and y_dev.shape == y_host.shape
    assert (y_dev.numpy() == y_host).mean() > 0.995


def _face(faces) -> np.ndarray:
    return faces[0].load(faces[1][0])[0]


@pytest.mark.parametrize("k", [3, 9, 31, 101])
def test_gaussian_blur_is_cv2s(faces, k: int) -> None:
    img = _face(faces)
    np.testing.assert_allclose(_hwc(ops.gaussian_blur(_nchw(img), k)), cv2.GaussianBlur(img, (k, k), 0), atol=1e-5)


def test_colour_blur_and_resize_ops_are_cv2s(faces) -> None:
    img = _face(faces)
    x = _nchw(img)
    shift = (-23.0, 0.2, -0.15)
    np.testing.assert_allclose(_hwc(shift_hsv(x, torch.tensor([shift]))), xa.hsv_shift(img, shift), atol=1e-4)
    levels = np.array([[0.1, 0.2, 0.05], [0.8, 0.9, 0.95], [0.6, 1.4, 1.0], [0.05, 0.1, 0.2], [0.9, 0.8, 1.0]])
    np.testing.assert_allclose(_hwc(ops.rgb_levels(x, torch.tensor(levels, dtype=torch.float32)[None])),
                               xa.rgb_levels(img, levels), atol=1e-5)
    for size, angle in ((2, 0.0), (3, 47.0), (4, 200.0), (5, 300.0)):
        kernel = torch.from_numpy(xa.motion_kernel(size, angle))
        np.testing.assert_allclose(_hwc(ops.filter2d(x, kernel)), xa.motion_blur(img, size, angle), atol=1e-5)
    for small in (32, 57, 100):
        np.testing.assert_array_equal(_hwc(ops.down_up(x, True, small)), xa.down_up(img, True, small))
        np.testing.assert_allclose(_hwc(ops.down_up(x, False, small)), xa.down_up(img, False, small), atol=1e-4)


@pytest.mark.parametrize("q", [10, 35, 60, 90])
def test_jpeg_round_trip_is_close_to_opencvs(faces, q: int) -> None:
    """The torch JPEG against cv2.imencode/imdecode: mean difference under 0.6 of a level, and its error against
    the original within 5 % of OpenCV's."""
    img = _face(faces)
    ours = _hwc(ops.jpeg_round_trip(_nchw(img), [q]))
    theirs = xa.jpeg(img, q)
    assert np.abs(ours - theirs).mean() * 255 < 0.6
    ref = np.floor(img * 255) / 255
    err_ours, err_cv = np.abs(ours - ref).mean(), np.abs(theirs - ref).mean()
    assert err_cv > 0 and abs(err_ours / err_cv - 1) < 0.05, (err_ours * 255, err_cv * 255)


def test_chain_statistics_match_the_cpu_chain(faces) -> None:
    """Over many seeds: the mean and spread of the image change (output - input face) agree within 2 %."""
    loader, samples = faces
    change_cpu, change_dev = [], []
    for seed in range(24):
        cpu_img, _, dev_img, _ = _both(faces, seed)
        base = loader.load(samples[seed % len(samples)])[0]
        change_cpu.append(cpu_img - base)
        change_dev.append(dev_img - base)
    c, d = np.stack(change_cpu), np.stack(change_dev)
    assert abs(c.mean() - d.mean()) < 0.02 * c.std()
    assert math.isclose(c.std(), d.std(), rel_tol=0.02)


def test_xseg_trains_with_the_device_pipeline_from_the_cli(dst_faces: Path, tmp_path: Path) -> None:
    """A few iterations through the real CLI (--auto: occluders composited on the host first): finite loss."""
    model = tmp_path / "xseg"
    res = run_facecomp("xseg", "train", "--model", model, "--facesets", dst_faces, "--target-iter", 3,
                       "--resolution", 64, "--batch-size", 2, "--seed", 1, "--preview-every", 0, "--threads", 1,
                       "--sample-pipeline", "device", "--auto")
    assert "iteration 3" in res.out
    rows = [json.loads(line) for line in (model / "loss.jsonl").read_text().splitlines()]
    assert rows[-1]["iteration"] == 3 and math.isfinite(rows[-1]["loss"])
