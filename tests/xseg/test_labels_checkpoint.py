"""Labels (polygons, traced mattes), augmentation/occluder invariants, and model-folder checkpoints."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from engine.errors import FacecompError
from engine.training import xseg_checkpoint
from engine.training.xseg_augment import augment
from engine.xseg import checkpoint
from engine.xseg.labels import iou, polys_to_mask, trace_polys, transform_polys
from engine.xseg.model import XSegNet
from engine.xseg.occluders import OccluderBank, occlude


def test_polygons_fill_in_order_and_trace_back() -> None:
    polys = [{"type": "include", "points": [[10, 10], [90, 10], [90, 90], [10, 90]]},
             {"type": "exclude", "points": [[30, 30], [70, 30], [70, 70], [30, 70]]},
             {"type": "include", "points": [[45, 45], [55, 45], [55, 55], [45, 55]]}]
    m = polys_to_mask(polys, 100)
    assert m[20, 20] == 1 and m[40, 40] == 0 and m[50, 50] == 1 and m[5, 5] == 0
    traced = trace_polys(m)
    assert [p["type"] for p in traced] == ["include", "exclude", "include"]
    assert iou(polys_to_mask(traced, 100), m) > 0.97
    ellipse = np.zeros((128, 128), np.float32)
    cv2.ellipse(ellipse, (64, 60), (40, 50), 20, 0, 360, 1.0, -1)
    assert iou(polys_to_mask(trace_polys(ellipse), 128), ellipse) > 0.97


def test_transform_polys_round_trip() -> None:
    mat = np.array([[1.2, 0.3, -5.0], [-0.3, 1.2, 7.0]])
    polys = [{"type": "exclude", "points": [[1.0, 2.0], [3.0, 4.0], [5.0, 1.0]]}]
    back = transform_polys(transform_polys(polys, mat), mat, invert=True)
    assert np.allclose(back[0]["points"], polys[0]["points"], atol=1e-2)
    assert back[0]["type"] == "exclude"


def test_augment_and_occluders_keep_shapes_and_cut_masks() -> None:
    rng = np.random.default_rng(0)
    img = rng.uniform(0, 1, (64, 64, 3)).astype(np.float32)
    mask = np.zeros((64, 64), np.float32)
    mask[16:48, 16:48] = 1
    a, m = augment(img, mask, rng, background=(img[::-1].copy(), mask[::-1].copy()))
    assert a.shape == img.shape and m.shape == mask.shape and set(np.unique(m)) <= {0.0, 1.0}
    assert a.min() >= 0.0 and a.max() <= 1.0
    bank = OccluderBank([rng.uniform(0, 1, (80, 90, 3)).astype(np.float32)], lambda r: (img, mask))
    cut = [occlude(img, mask, bank, rng, p=1.0)[1].sum() for _ in range(20)]
    assert min(cut) < mask.sum()  # occluders remove face pixels from the target
    for kind in ("hand", "object", "strands", "blob", "face"):
        occ, alpha = getattr(bank, kind)(64, np.array([32.0, 32.0]), rng)
        assert occ.shape == (64, 64, 3) and alpha.shape == (64, 64) and alpha.max() > 0


def test_xseg_warp_is_the_swap_trainers_warp_with_xsegs_ranges(dst_faces) -> None:
    """DFL's XSeg generator warps with SAEHD's gen_warp_params/warp_by_params: XSeg's warp_pair draws exactly
    the swap trainer's warp (same generator state -> same image), scale within ±5 %, and keeps a real face's
    mask on the warped face (image and mask share the draw)."""
    from engine.faces.faceset import list_faces
    from engine.media.image_io import read_image
    from engine.training.augment import apply_warp, warp_params
    from engine.training.xseg_augment import XSEG_SCALE_RANGE, warp_pair

    face = read_image(list_faces(dst_faces)[0])[..., :3].astype(np.float32)
    face = cv2.resize(face, (128, 128), interpolation=cv2.INTER_AREA)
    mask = (cv2.cvtColor(face, cv2.COLOR_BGR2GRAY) > 0.35).astype(np.float32)
    face[..., 0] = mask  # the mask also in the image's blue channel: both must come out warped alike
    scales = []
    for seed in range(40):
        img, m = warp_pair(face, mask, np.random.default_rng(seed))
        p = warp_params(np.random.default_rng(seed), 128, True, XSEG_SCALE_RANGE)
        np.testing.assert_array_equal(img, apply_warp(face, p, True))
        assert set(np.unique(m)) <= {0.0, 1.0}
        same = ((img[24:-24, 24:-24, 0] > 0.5) == (m[24:-24, 24:-24] > 0.5)).mean()  # borders: replicate vs 0
        assert same > 0.99, f"seed {seed}: the mask follows the face ({same:.3f})"
        scales.append(float(np.hypot(*p.affine[0, :2])))
    assert min(scales) >= 1 / 1.05 - 1e-6 and max(scales) <= 1.05 + 1e-6 and max(scales) - min(scales) > 0.03


def test_checkpoint_round_trip_backups_and_errors(tmp_path) -> None:
    torch.manual_seed(0)
    net = XSegNet(64)
    folder = tmp_path / "xseg"
    for it in (1, 2, 3):
        xseg_checkpoint.save_checkpoint(folder, net, it, {"resolution": 64, "face_type": "whole_face"},
                                   {"conv01.conv.weight.a": torch.ones(32, 3, 3, 3)})
    meta = checkpoint.read_meta(folder)
    assert meta["format"] == "facecomp-xseg" and meta["iteration"] == 3 and meta["resolution"] == 64
    assert sorted(p.name for p in (folder / "backups").iterdir()) == ["01", "02"]
    assert checkpoint.read_meta(folder / "backups" / "01")["iteration"] == 2
    loaded, _ = checkpoint.load_model(folder)
    for k, v in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)
    assert "conv01.conv.weight.a" in checkpoint.load_optimizer_state(folder)
    # a folder of the first version (accumulators ``<param>.a``) resumes into the shared optimizer
    from engine.training.xseg_trainer import make_optimizer

    opt = make_optimizer(loaded, 1e-4, True, 0)
    assert opt.load_state_tensors(checkpoint.optimizer_tensors(checkpoint.load_optimizer_state(folder))) == 1
    assert float(opt.state["acc"][: 32 * 27].min()) == 1.0 and float(opt.state["acc"][32 * 27:].abs().max()) == 0.0
    (folder / checkpoint.WEIGHTS).write_bytes(b"garbage")
    with pytest.raises(FacecompError, match="model.safetensors"):
        checkpoint.load_model(folder)
    assert checkpoint.restore_from_backup(folder)
    assert checkpoint.load_model(folder)[1]["iteration"] == 2
    (folder / checkpoint.MODEL_JSON).write_text(json.dumps({"format": "facecomp-model"}))
    with pytest.raises(FacecompError, match="not an XSeg model"):
        checkpoint.load_model(folder)
    with pytest.raises(FacecompError, match="model.json missing"):
        checkpoint.load_model(tmp_path / "nothing")
