"""The trainer's parts on their own: DFL's losses, optimizers, sample generator and checkpoint files."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from engine.errors import FacecompError
from engine.training import losses as L
from engine.training.optimizers import DFLOptimizer, FlatParams

# ---- losses -------------------------------------------------------------------------------------------


def test_dssim_matches_reference_ssim():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(0)
    a = rng.random((64, 64, 3)).astype(np.float32)
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1).astype(np.float32)
    ta, tb = (torch.from_numpy(x).permute(2, 0, 1)[None] for x in (a, b))
    ours = float(L.dssim(ta, tb, kernel_size=11)[0])
    ssim = structural_similarity(a, b, channel_axis=2, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False)
    assert abs(ours - (1 - ssim) / 2) < 2e-3
    assert float(L.dssim(ta, ta, 5)[0]) == pytest.approx(0.0, abs=1e-6)
    assert L.dssim_kernel_size(64) == 5 and L.dssim_kernel_size(96) == 8 and L.dssim_kernel_size(256, 23.2) == 11


def test_gaussian_blur_and_masks():
    x = torch.zeros(1, 1, 33, 33)
    x[0, 0, 16, 16] = 1.0
    blurred = L.gaussian_blur(x, 2.0)  # kernel max(3, int(4σ)) made odd = 9
    size = 9
    k = cv2.getGaussianKernel(size, 2.0)
    ref = np.zeros((33, 33), np.float32)
    ref[12:21, 12:21] = (k @ k.T)
    assert np.allclose(blurred[0, 0].numpy(), ref, atol=1e-6)
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 16:48, 16:48] = 1
    soft = L.blur_mask(mask, 64)
    assert soft.max() == 1.0 and soft.min() == 0.0 and 0 < float(soft[0, 0, 14, 32]) < 1  # soft just outside
    img = torch.rand(1, 3, 64, 64)
    out = L.blur_out_mask(img, mask, 64)
    assert torch.equal(out[..., 16:48, 16:48], img[..., 16:48, 16:48])
    assert not torch.allclose(out[..., :8, :8], img[..., :8, :8])


def test_gaussian_filter_paths_agree(monkeypatch):
    """Sides up to BAND_MAX_SIDE filter by banded matrix products, larger ones by depthwise convolutions."""
    x = torch.rand(2, 3, L.BAND_MAX_SIDE + 8, L.BAND_MAX_SIDE + 8)
    by_conv = (L.gaussian_blur(x, 3.0), L.dssim(x, x.flip(-1), 11))
    monkeypatch.setattr(L, "BAND_MAX_SIDE", 10_000)
    by_band = (L.gaussian_blur(x, 3.0), L.dssim(x, x.flip(-1), 11))
    for a, b in zip(by_conv, by_band, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_style_and_gan_losses():
    a = torch.rand(2, 3, 16, 16)
    assert torch.allclose(L.style_loss(a, a), torch.zeros(2))
    shifted = L.style_loss(a, a + 0.5, weight=3.0)
    assert torch.allclose(shifted, torch.full((2,), 0.25 * 3 * 3.0 / 3), atol=1e-5)
    assert float(L.bce_with_logits(torch.full((1, 1, 2, 2), 20.0), 1.0)[0]) < 1e-6
    tv = L.total_variation_mse(torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]]))
    assert float(tv[0]) == 2.0


# ---- optimizers ---------------------------------------------------------------------------------------


def _net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 2))


def _grads(net: nn.Module, flat: FlatParams, x: torch.Tensor) -> None:
    flat.zero_grad()
    net(x).square().sum().backward()


@pytest.mark.parametrize("method", ["adabelief", "rmsprop"])
def test_optimizer_matches_dfl_formulas(method: str):
    net = _net()
    flat = FlatParams(list(net.named_parameters()))
    opt = DFLOptimizer(flat, method, lr=1e-2, clipnorm=0.0)
    ref = flat.data.clone()
    m, v = torch.zeros_like(ref), torch.zeros_like(ref)
    x = torch.randn(5, 6)
    for _ in range(3):
        _grads(net, flat, x)
        g = flat.grad.clone()
        if method == "adabelief":  # no bias correction
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * (g - m) ** 2
            ref = ref - 1e-2 * m / (v.sqrt() + 1e-6)
        else:
            v = 0.9 * v + 0.1 * g**2
            ref = ref - 1e-2 * g / (v.sqrt() + 1e-6)
        opt.step()
    assert torch.allclose(flat.data, ref, atol=1e-6)
    assert all(p.data.data_ptr() >= flat.data.data_ptr() for p in net.parameters())  # views of the flat buffer
    state = opt.state_tensors()
    again = DFLOptimizer(FlatParams(list(_net(1).named_parameters())), method)
    assert again.load_state_tensors(state) == 4 and again.iterations == 3


def test_lr_dropout_cosine_and_clipnorm():
    net = nn.Linear(200, 200)
    flat = FlatParams(list(net.named_parameters()))
    opt = DFLOptimizer(flat, "rmsprop", lr=1e-3, lr_dropout=True, lr_cos=500)
    before = flat.data.clone()
    flat.grad.fill_(1.0)
    opt.step()
    assert 0.27 < float((flat.data != before).float().mean()) < 0.33  # DFL updates 30 % of the weights
    opt.iterations = 250
    assert opt.current_lr() == pytest.approx(0.0, abs=1e-12)  # (cos(π) + 1) / 2
    clip = DFLOptimizer(flat, "rmsprop", lr=1.0, clipnorm=1.0)
    flat.grad.fill_(100.0)
    start = flat.data.clone()
    clip.step()  # first RMSprop step: update = g·s / sqrt(0.1·(g·s)²) whatever the scale; the norm is clipped
    assert torch.isfinite(flat.data).all() and not torch.equal(flat.data, start)


def test_compiled_update_equals_eager():
    """The fused update (torch.compile, built in the background) gives the eager numbers."""
    nets = [_net(2), _net(2)]
    flats = [FlatParams(list(n.named_parameters())) for n in nets]
    opts = [DFLOptimizer(f, "adabelief", lr=1e-3, lr_dropout=True, lr_cos=500, seed=9) for f in flats]
    opts[1]._want_compiled = True
    compiled = opts[1].compile_now()
    if not compiled.wait(timeout=300):
        pytest.skip("torch.compile has no C++ compiler here (the eager update is used)")
    x = torch.randn(7, 6)
    for _ in range(3):
        for net, flat in zip(nets, flats, strict=True):
            _grads(net, flat, x)
        for opt in opts:
            opt.step()
    assert torch.allclose(flats[0].data, flats[1].data, atol=1e-6)


# ---- samples ------------------------------------------------------------------------------------------


def test_sample_generator_on_real_faces(src_faces: Path):
    from engine.faces.faceset import read_meta
    from engine.training.samples import Faceset, IndexSampler, SideSpec, make_batch

    assert read_meta(next(src_faces.iterdir())).face_type == "whole_face"
    faces = Faceset(src_faces, 64, "f", with_yaw=True)  # re-aligned from whole_face to full_face
    sample = faces.load(0)
    assert sample.image.shape == (64, 64, 3) and sample.mask.shape == sample.em_mask.shape == (64, 64)
    assert sample.mask.max() == 255 and sample.mask[0, 0] == 0 and sample.em_mask.max() > 0
    rng = np.random.default_rng(0)
    spec = SideSpec(64, random_warp=True, flip=False)
    batch = make_batch(faces, IndexSampler(len(faces), rng), spec, 4, rng)
    assert batch["warped"].shape == (4, 64, 64, 3) and batch["mask"].shape == (4, 64, 64, 1)
    assert batch["warped"].dtype == np.float32 and batch["target"].min() >= 0 and batch["target"].max() <= 1
    assert not np.allclose(batch["warped"], batch["target"])  # only the input is warped
    # one seed per sample: without warp, input and target are the same image, masks follow
    same = make_batch(faces, IndexSampler(len(faces), np.random.default_rng(1)), SideSpec(64, False, True), 4,
                      np.random.default_rng(1))
    assert np.array_equal(same["warped"], same["target"])
    assert len(faces.yaws) == len(faces) and np.isfinite(faces.yaws).all()


def test_uniform_yaw_sampler_visits_every_bin():
    from engine.training.samples import IndexSampler

    yaws = np.array([-1.0] * 50 + [0.0] * 5 + [1.0])
    sampler = IndexSampler(len(yaws), np.random.default_rng(0), yaws)
    picks = [sampler.next() for _ in range(300)]
    assert picks.count(55) > 60  # the lone profile face is drawn about as often as each crowded bin
    plain = IndexSampler(10, np.random.default_rng(0))
    assert sorted(plain.next() for _ in range(10)) == list(range(10))  # shuffled epochs


def test_damaged_face_file_is_named(src_faces: Path, tmp_path: Path):
    from engine.training.samples import Faceset

    folder = tmp_path / "faces"
    shutil.copytree(src_faces, folder)
    bad = sorted(folder.iterdir())[3]
    bad.write_bytes(b"\xff\xd8 not really")
    with pytest.raises(FacecompError, match=bad.name):
        Faceset(folder, 64, "f")
    with pytest.raises(FacecompError, match="no face images"):
        Faceset(tmp_path, 64, "f")


# ---- checkpoint files ---------------------------------------------------------------------------------


def _tiny_model():
    from engine.models import build_model

    return build_model("saehd", dict(resolution=64, archi="df", ae_dims=32, e_dims=16, d_dims=16, d_mask_dims=16))


def test_checkpoint_round_trip_pending_and_backups(tmp_path: Path):
    from engine.training import checkpoint as ckpt

    model = _tiny_model()
    ckpt.save_checkpoint(tmp_path, model, 5, {"optimizer": {"src_dst_opt.iters": torch.tensor(5)}},
                         {"training_seconds": 1.5})
    loaded, meta = ckpt.load_model(tmp_path)
    assert meta["iteration"] == 5 and meta["training_seconds"] == 1.5 and meta["kind"] == "saehd"
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values(),
                                                  strict=True))
    # a save cut short before it was complete: the old checkpoint stands, the leftover goes
    (tmp_path / ".pending").mkdir()
    (tmp_path / ".pending" / "model.safetensors").write_bytes(b"half")
    assert ckpt.read_model_json(tmp_path)["iteration"] == 5
    ckpt.recover(tmp_path)
    assert not (tmp_path / ".pending").exists()
    # a complete save not yet moved in place: readers see it, the trainer rolls it forward
    staged = tmp_path / "staged"
    ckpt.save_checkpoint(staged, model, 9)
    pending = tmp_path / ".pending"
    pending.mkdir()
    for name in ("model.safetensors", "model.json"):
        shutil.copy(staged / name, pending / name)
    (pending / "COMPLETE").write_text(json.dumps({"files": ["model.safetensors", "model.json"],
                                                  "remove": ["optimizer.safetensors"]}))
    assert ckpt.load_model(tmp_path)[1]["iteration"] == 9
    ckpt.recover(tmp_path)
    assert ckpt.read_model_json(tmp_path)["iteration"] == 9 and not (tmp_path / "optimizer.safetensors").exists()
    for _ in range(3):
        ckpt.write_backup(tmp_path, keep=2)
    assert sorted(p.name for p in (tmp_path / "backups").iterdir()) == ["01", "02"]
    assert json.loads((tmp_path / "backups" / "01" / "model.json").read_text())["iteration"] == 9


def test_mixed_checkpoint_files_are_refused(tmp_path: Path):
    from engine.training import checkpoint as ckpt

    model = _tiny_model()
    a, b = tmp_path / "a", tmp_path / "b"
    ckpt.save_checkpoint(a, model, 1)
    ckpt.save_checkpoint(b, model, 2)
    shutil.copy(b / "model.safetensors", a / "model.safetensors")
    with pytest.raises(FacecompError, match="another save"):
        ckpt.load_model(a)
    (a / "model.json").write_text("{not json")
    with pytest.raises(FacecompError, match="damaged model.json"):
        ckpt.load_model(a)
    os.remove(b / "model.json")
    with pytest.raises(FacecompError, match="model.json missing"):
        ckpt.load_model(b)


# ---- every option path of the step ---------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "extra"), [
    ("saehd", dict(archi="df-ud", true_face_power=0.1, face_style_power=1.0, bg_style_power=1.0, eyes_mouth_prio=True,
                   blur_out_mask=True, ct_mode="rct", random_hsv_power=0.1, uniform_yaw=True, lr_dropout="y",
                   clipgrad=True, adabelief=False, masked_training=False)),
    ("amp", dict(inter_dims=32, ct_mode="lct", random_src_flip=True)),
])
def test_every_loss_term_trains_saves_and_resumes(kind: str, extra: dict, src_faces: Path, dst_faces: Path,
                                                   tmp_path: Path):
    """GAN, true face, styles, eyes/mouth, blur_out_mask, ct_mode, HSV, uniform yaw, lr_dropout, clipgrad."""
    from engine.models import normalize_options
    from engine.training import checkpoint as ckpt
    from engine.training.trainer import Trainer, TrainSettings

    options = normalize_options(kind, dict(resolution=64, ae_dims=32, e_dims=16, d_dims=16, d_mask_dims=16,
                                           batch_size=2, gan_power=0.1, **extra))
    settings = dict(model_dir=tmp_path, kind=kind, options=options, src=src_faces, dst=dst_faces, preview_every=0,
                    quiet=True)
    first = Trainer(TrainSettings(**settings, max_iterations=2)).run()
    assert first["iteration"] == 2
    row = json.loads((tmp_path / "loss.jsonl").read_text().splitlines()[-1])
    assert np.isfinite([row["loss_src"], row["loss_dst"], row["loss_gan_d"]]).all()
    discs = {k.split(".")[0] for k in ckpt.read_tensors(tmp_path, "discriminators.safetensors", None)}
    opts = {k.split(".")[0] for k in ckpt.read_tensors(tmp_path, "optimizer.safetensors", None)}
    want_d = {"gan", "code_discriminator"} if kind == "saehd" else {"gan"}
    assert discs == want_d and opts == {"src_dst_opt", "GAN_opt"} | ({"D_code_opt"} if kind == "saehd" else set())
    again = Trainer(TrainSettings(**settings, max_iterations=1), ckpt.read_model_json(tmp_path))
    assert again.run()["iteration"] == 3 and again.gan_opt.iterations == 3 and again.opt.iterations == 3
    assert (torch.tensor([1e-39]) * 1.0).item() != 0.0  # the run's denormal flushing ended with it


def test_denormals_flush_only_inside_the_block():
    from engine.training.precision import denormals_flushed

    tiny = torch.tensor([1e-39])  # a float32 denormal
    with denormals_flushed(torch.device("cpu")):
        assert (tiny * 1.0).item() == 0.0
    assert (tiny * 1.0).item() != 0.0
