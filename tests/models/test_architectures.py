"""Swap-model architectures: DFL's exact parameter counts, shapes per archi letter, routing, options, bf16."""

from __future__ import annotations

import pytest
import torch

from engine.errors import FacecompError
from engine.models import build_model, model_options, normalize_options, parameter_summary
from engine.models.amp import random_morph_mask
from engine.models.archi import parse_archi
from engine.models.discriminators import CodeDiscriminator, UNetPatchDiscriminator, patch_layers, receptive_field

SMALL = dict(resolution=64, ae_dims=32, e_dims=16, d_dims=16, d_mask_dims=16)

# dfl.md §6 table: totals counted from DFL's own weight files / leras classes
DFL_COUNTS = [
    ("quick96", {}, 38_294_330),
    ("saehd", dict(resolution=64, archi="liae-ud", ae_dims=64, e_dims=32, d_dims=32, d_mask_dims=16), 9_807_645),
    ("saehd", dict(resolution=64, archi="df-ud", ae_dims=64, e_dims=32, d_dims=32, d_mask_dims=16), 10_112_058),
    ("saehd", dict(resolution=96, archi="liae-ud", ae_dims=128, e_dims=64, d_dims=64, d_mask_dims=22), 39_862_379),
    ("saehd", dict(resolution=96, archi="df-ud", ae_dims=128, e_dims=64, d_dims=64, d_mask_dims=22), 39_426_902),
    ("amp", {}, 101_345_195),
    ("saehd", {}, 82_376_555),
]


@pytest.mark.parametrize("kind,options,total", DFL_COUNTS, ids=lambda v: str(v) if isinstance(v, int) else None)
def test_parameter_counts_match_dfl_exactly(kind, options, total):
    with torch.device("meta"):  # counts only: no memory, no init cost
        model = build_model(kind, options)
    summary = parameter_summary(model)
    assert summary["total"] == total
    assert sum(summary["parts"].values()) == total
    assert list(summary["parts"]) == list(model.parts())


def test_amp_part_counts_match_dfl():
    with torch.device("meta"):
        parts = parameter_summary(build_model("amp", {}))["parts"]
    assert parts == {"encoder": 22_076_928, "inter_src": 12_895_232, "inter_dst": 12_895_232, "decoder": 53_477_803}


@pytest.mark.parametrize("archi", ["df", "liae", "df-u", "liae-d", "df-t", "liae-udt", "df-udtc", "liae-dt"])
def test_every_archi_builds_and_swap_equals_training_graph(archi):
    torch.manual_seed(0)
    model = build_model("saehd", {**SMALL, "archi": archi}).eval()
    src, dst = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        out = model(src, dst)
        dst_mask, face, celeb_mask = model.swap(dst)
    for key in ("pred_src_src", "pred_dst_dst", "pred_src_dst"):
        assert out[key].shape == (2, 3, 64, 64)
        assert out[key + "m"].shape == (2, 1, 64, 64)
        assert float(out[key].min()) >= 0.0 and float(out[key].max()) <= 1.0
    torch.testing.assert_close(face, out["pred_src_dst"], atol=1e-5, rtol=0)
    torch.testing.assert_close(celeb_mask, out["pred_src_dstm"], atol=1e-5, rtol=0)
    torch.testing.assert_close(dst_mask, out["pred_dst_dstm"], atol=1e-5, rtol=0)
    opts = parse_archi(archi).opts
    side = 64 // (32 if "d" in opts else 16) * (1 if "t" in opts else 2)
    assert out["src_code"].shape[-1] == side == model.code_res


def test_liae_routing_src_code_is_inter_ab_twice():
    torch.manual_seed(0)
    model = build_model("saehd", {**SMALL, "archi": "liae"}).eval()
    src, dst = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        out = model(src, dst)
        ab = model.inter_AB(model.encoder(src))
        b_dst = model.inter_B(model.encoder(dst))
    torch.testing.assert_close(out["src_code"], torch.cat([ab, ab], 1))
    torch.testing.assert_close(out["dst_code"][:, : ab.shape[1]], b_dst)


def test_bf16_autocast_forward_and_backward():
    torch.manual_seed(0)
    model = build_model("saehd", {**SMALL, "archi": "liae-ud"})
    src, dst = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    ref = model(src, dst)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(src, dst, swap=False)
    assert "pred_src_dst" not in out
    assert out["pred_src_src"].dtype == torch.float32
    assert float((out["pred_src_src"] - ref["pred_src_src"]).detach().abs().max()) < 0.05
    (out["pred_src_src"].mean() + out["pred_dst_dstm"].mean()).backward()
    assert model.encoder.down1.downs[0].conv1.weight.grad is not None


def test_amp_morph_values_and_mask():
    torch.manual_seed(0)
    model = build_model("amp", {**SMALL, "inter_dims": 32}).eval()
    dst = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        m0, f0, _ = model.swap(dst, 0.0)
        m1, f1, _ = model.swap(dst, torch.tensor([1.0]))
        out = model(torch.rand(2, 3, 64, 64), dst, morph_value=1.0)
    assert float((f0 - f1).abs().max()) > 1e-3  # different identity mix
    torch.testing.assert_close(m0, m1)  # the dst mask does not depend on the morph value
    torch.testing.assert_close(f1, out["pred_src_dst"], atol=1e-5, rtol=0)
    mask = random_morph_mask(5, 32, 0.5)
    assert mask.shape == (5, 32) and mask.sum(1).tolist() == [16.0] * 5
    assert model.trainable_parts() == ["encoder", "decoder"]


def test_options_complete_as_dfl():
    opts = normalize_options("saehd", {"resolution": 100, "archi": "LIAE-du", "d_dims": 33, "e_dims": 17})
    assert opts["resolution"] == 96 and opts["archi"] == "liae-ud"  # floored to x32 with d; letters ordered
    assert (opts["e_dims"], opts["d_dims"], opts["d_mask_dims"]) == (18, 34, 16)
    assert opts["gan_patch_size"] == 12
    assert normalize_options("saehd", {"d_dims": 96})["d_mask_dims"] == 32
    assert normalize_options("saehd", {"d_dims": 96, "d_mask_dims": 20})["d_mask_dims"] == 20
    assert normalize_options("amp", {"resolution": 100})["resolution"] == 96
    assert normalize_options("saehd", {"face_type": "whole_face"})["face_type"] == "wf"
    defaults = {o.name: o.default for o in model_options("saehd")}
    assert defaults["archi"] == "liae-ud" and defaults["face_type"] == "f" and defaults["ae_dims"] == 256
    names = {o.name for o in model_options("saehd")}
    assert {"true_face_power", "ct_mode", "gan_patch_size", "target_iter", "random_hsv_power"} <= names
    assert normalize_options("quick96", {})["archi"] == "df-ud"
    with pytest.raises(FacecompError, match="fixed|not one of"):
        normalize_options("quick96", {"ae_dims": 256})
    for bad in ({"archi": "dfx"}, {"archi": "df-uu"}, {"archi": "liae-"}, {"resolution": 48}, {"ct_mode": "x"},
                {"resolution": 80, "archi": "df-t"}, {"nonsense": 1}):
        with pytest.raises(FacecompError):
            normalize_options("saehd", bad)
    assert parse_archi("df-tu").name == "df-ut"


def test_reset_part_and_trainable_parts():
    torch.manual_seed(0)
    model = build_model("saehd", {**SMALL, "archi": "liae-ud"})
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.reset_part("inter")  # DFL's "delete inter_AB"
    after = model.state_dict()
    changed = {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"inter_AB"}
    assert model.trainable_parts() == ["encoder", "inter_AB", "inter_B", "decoder"]
    model.options["random_warp"] = False
    assert model.trainable_parts() == ["encoder", "inter_B", "decoder"]
    with pytest.raises(FacecompError, match="no part"):
        model.reset_part("decoder_src")


def test_init_is_glorot_uniform_with_zero_bias():
    torch.manual_seed(0)
    model = build_model("saehd", {**SMALL, "archi": "df"})
    w = model.inter.dense1.weight.detach()  # (ae, F) = (32, 2048)
    limit = (6 / (w.shape[0] + w.shape[1])) ** 0.5
    assert float(w.abs().max()) <= limit and float(w.abs().max()) > 0.95 * limit
    assert float(model.decoder_src.out_conv.bias.detach().abs().max()) == 0.0


def test_patch_discriminator_layer_choice_and_shapes():
    strides = {p: [s for _, s in patch_layers(p)] for p in (16, 28, 32)}
    assert strides == {16: [2, 2, 2], 28: [2, 1, 2, 1, 2], 32: [2, 2, 2, 2]}
    assert [receptive_field(patch_layers(p)) for p in (16, 28, 32)] == [15, 27, 31]
    d = UNetPatchDiscriminator(28, 3, 16)
    center, full = d(torch.rand(2, 3, 64, 64))
    assert center.shape == (2, 1, 8, 8) and full.shape == (2, 1, 64, 64)
    assert "upconvs.0.weight" in d.state_dict() and "center_conv.weight" in d.state_dict()
    code = CodeDiscriminator(64, 8)
    assert len(code.convs) == 2 and code(torch.rand(2, 64, 8, 8)).shape == (2, 1, 3, 3)


def test_joined_convs_are_the_separate_convs_concatenated():
    """The ``d`` decoder's four output convs (one 1×1, three 3×3) run as one conv: same output and gradients."""
    from engine.models.blocks import conv2d, joined_convs

    torch.manual_seed(3)
    convs = [conv2d(16, 3, 1), *(conv2d(16, 3, 3) for _ in range(3))]
    for c in convs:
        torch.nn.init.uniform_(c.bias, -0.5, 0.5)
    x = torch.randn(2, 16, 12, 12, requires_grad=True)
    joined = joined_convs(convs, x)
    separate = torch.cat([c(x) for c in convs], dim=1)
    torch.testing.assert_close(joined, separate, rtol=1e-5, atol=1e-5)
    go = torch.randn_like(joined)
    params = [x, *(p for c in convs for p in c.parameters())]
    for a, b in zip(torch.autograd.grad(joined, params, go), torch.autograd.grad(separate, params, go), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
