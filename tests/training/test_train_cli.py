"""`facecomp train` end to end on real extracted faces: training, resume, --set, --reset, pretrain, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import assert_clean_error, run_facecomp
from tests.training.conftest import FAST, TINY, loss_rows, mean, run_inprocess


def test_saehd_trains_from_the_cli(tiny_saehd: Path):
    rows = loss_rows(tiny_saehd)
    assert [r["iteration"] for r in rows] == list(range(1, 41))
    assert all({"iteration", "time", "ms", "loss_src", "loss_dst"} <= set(r) for r in rows)
    first, last = mean([r["loss_dst"] for r in rows[:5]]), mean([r["loss_dst"] for r in rows[-5:]])
    assert last < 0.85 * first, (first, last)
    for name in ("model.json", "model.safetensors", "optimizer.safetensors", "preview.png", "loss.png"):
        assert (tiny_saehd / name).is_file(), name
    assert not [p for p in tiny_saehd.rglob("*") if p.suffix in (".npy", ".pt", ".pkl", ".tmp")]
    assert not (tiny_saehd / ".pending").exists()
    meta = json.loads((tiny_saehd / "model.json").read_text())
    assert meta["format"] == "facecomp-model" and meta["iteration"] == 40 and meta["kind"] == "saehd"
    assert meta["options"]["archi"] == "liae-ud" and meta["options"]["resolution"] == 64
    assert Path(meta["training"]["src"]).is_dir() and meta["training_seconds"] > 0

    from engine.training.checkpoint import load_model

    model, info = load_model(tiny_saehd)
    assert info["iteration"] == 40 and not model.training
    with torch.no_grad():
        mask, face, face_mask = model.swap(torch.rand(2, 3, 64, 64))
    assert face.shape == (2, 3, 64, 64) and mask.shape == face_mask.shape == (2, 1, 64, 64)


def test_resume_continues_the_iteration_count(tiny_copy: Path):
    run_facecomp("train", "--model", tiny_copy, "--resume", "--target-iter", "44", *FAST)
    its = [r["iteration"] for r in loss_rows(tiny_copy)]
    assert its == list(range(1, 45))
    assert json.loads((tiny_copy / "model.json").read_text())["iteration"] == 44


def test_set_changes_options_as_dfl_allows(tiny_copy: Path):
    run_facecomp("train", "--model", tiny_copy, "--resume", "--set", "random_warp=false", "--set", "lr_dropout=y",
                 "--clipgrad", "--target-iter", "0", "--iterations", "2", *FAST)
    meta = json.loads((tiny_copy / "model.json").read_text())
    assert meta["options"]["random_warp"] is False and meta["options"]["lr_dropout"] == "y"
    assert meta["options"]["clipgrad"] is True and meta["iteration"] == 42
    for bad, name in ((["--set", "resolution=128"], "resolution"), (["--ae-dims", "64"], "ae_dims"),
                      (["--set", "archi=df-ud"], "archi"), (["--set", "no_such_option=1"], "no_such_option")):
        res = run_inprocess("train", "--model", tiny_copy, "--resume", *bad, "--iterations", "1", *FAST)
        assert_clean_error(res, name)
    assert json.loads((tiny_copy / "model.json").read_text())["iteration"] == 42


def test_reset_inter_reinitialises_only_the_inter(tiny_copy: Path):
    before = load_file(str(tiny_copy / "model.safetensors"))
    run_facecomp("train", "--model", tiny_copy, "--resume", "--reset", "inter", "--target-iter", "40", *FAST)
    after = load_file(str(tiny_copy / "model.safetensors"))
    assert json.loads((tiny_copy / "model.json").read_text())["iteration"] == 40
    for key, value in before.items():
        same = torch.equal(value, after[key])
        if key.startswith("inter_AB.") and key.endswith("weight"):
            assert not same, key
        elif not key.startswith("inter_AB."):
            assert same, key


def test_amp_trains_from_the_cli(src_faces: Path, dst_faces: Path, tmp_path: Path):
    model = tmp_path / "amp"
    run_facecomp("train", "--model", model, "--kind", "amp", "--src", src_faces, "--dst", dst_faces,
                 "--resolution", "64", "--ae-dims", "32", "--inter-dims", "32", "--e-dims", "16", "--d-dims", "16",
                 "--d-mask-dims", "16", "--batch-size", "4", "--target-iter", "30", *FAST)
    rows = loss_rows(model)
    assert [r["iteration"] for r in rows] == list(range(1, 31))
    assert mean([r["loss_dst"] for r in rows[-5:]]) < 0.85 * mean([r["loss_dst"] for r in rows[:5]])
    from engine.training.checkpoint import load_model

    amp, meta = load_model(model)
    assert meta["kind"] == "amp" and amp.trainable_parts() == ["encoder", "decoder"]


def test_quick96_trains_from_the_cli(src_faces: Path, dst_faces: Path, tmp_path: Path):
    """DFL's fixed recipe (96 px, 38 M weights, RMSprop 2e-4 with lr_dropout): a few iterations already help."""
    model = tmp_path / "q96"
    run_facecomp("train", "--model", model, "--kind", "quick96", "--src", src_faces, "--dst", dst_faces,
                 "--iterations", "7", *FAST)
    rows = loss_rows(model)
    assert [r["iteration"] for r in rows] == list(range(1, 8))
    assert mean([r["loss_dst"] for r in rows[-2:]]) < 0.95 * mean([r["loss_dst"] for r in rows[:2]])
    meta = json.loads((model / "model.json").read_text())
    assert meta["kind"] == "quick96" and meta["options"]["resolution"] == 96 and meta["iteration"] == 7


def test_pretrain_then_switching_it_off_restarts_the_count(src_faces: Path, tmp_path: Path):
    model = tmp_path / "pre"
    run_facecomp("train", "--model", model, "--kind", "saehd", "--pretrain", "--src", src_faces, "--archi", "df-ud",
                 *TINY, "--iterations", "3", *FAST)
    meta = json.loads((model / "model.json").read_text())
    assert meta["options"]["pretrain"] is True and meta["iteration"] == 3
    before = load_file(str(model / "model.safetensors"))
    run_facecomp("train", "--model", model, "--resume", "--no-pretrain", "--dst", src_faces, "--iterations", "1",
                 *FAST)
    meta = json.loads((model / "model.json").read_text())
    assert meta["options"]["pretrain"] is False and meta["iteration"] == 1  # DFL restarts the count
    assert [r["iteration"] for r in loss_rows(model)] == [1]
    after = load_file(str(model / "model.safetensors"))
    assert not torch.equal(before["inter.dense1.weight"], after["inter.dense1.weight"])


def test_precision_fp32_and_bf16(tiny_copy: Path):
    for precision in ("fp32", "bf16"):
        res = run_facecomp("train", "--model", tiny_copy, "--resume", "--precision", precision, "--target-iter", "0",
                           "--iterations", "1", *FAST)
        assert f"{precision} on cpu" in res.err
    assert json.loads((tiny_copy / "model.json").read_text())["iteration"] == 42


def test_summary_needs_no_facesets(tmp_path: Path):
    res = run_facecomp("train", "--model", tmp_path / "m", "--kind", "saehd", "--resolution", "96", "--archi",
                       "liae-ud", "--ae-dims", "128", "--e-dims", "64", "--d-dims", "64", "--d-mask-dims", "22",
                       "--summary", "--json")
    summary = json.loads(res.out)
    assert abs(summary["total"] / 1e6 - 39.86) / 39.86 < 0.01
    assert set(summary["parts"]) == {"encoder", "inter_AB", "inter_B", "decoder"}
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(("kind", "options", "dfl_millions"), [
    ("saehd", dict(resolution=64, archi="liae-ud", ae_dims=64, e_dims=32, d_dims=32, d_mask_dims=16), 9.81),
    ("saehd", dict(resolution=64, archi="df-ud", ae_dims=64, e_dims=32, d_dims=32, d_mask_dims=16), 10.11),
    ("saehd", dict(resolution=96, archi="liae-ud", ae_dims=128, e_dims=64, d_dims=64, d_mask_dims=22), 39.86),
    ("saehd", dict(resolution=96, archi="df-ud", ae_dims=128, e_dims=64, d_dims=64, d_mask_dims=22), 39.43),
    ("quick96", {}, 38.29),
])
def test_parameter_counts_match_dfl(kind: str, options: dict, dfl_millions: float):
    """The issue's five configs, through the same planning as `--summary` (DFL's counts within 1 %)."""
    import argparse

    from engine.cli.train import add_arguments, plan_from_args
    from engine.models import build_model, parameter_summary

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in options.items()]
    args = parser.parse_args(["--model", "unused", "--kind", kind, "--summary", *flags])
    p = plan_from_args(args, None)
    total = parameter_summary(build_model(p.kind, p.options))["total"] / 1e6
    assert abs(total - dfl_millions) / dfl_millions < 0.01, total


def test_clear_errors(tiny_copy: Path, src_faces: Path, tmp_path: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_clean_error(run_inprocess("train", "--model", empty, "--resume"), "model.json missing")
    assert_clean_error(run_inprocess("train", "--model", tmp_path / "new", "--src", src_faces, "--dst", src_faces),
                       "--kind")
    assert_clean_error(run_inprocess("train", "--model", tmp_path / "new", "--kind", "saehd", "--src", src_faces,
                                     "--dst", tmp_path / "nowhere"), "nowhere")
    assert_clean_error(run_inprocess("train", "--model", tiny_copy, "--kind", "amp", "--resume"), "saehd")
    damaged = tmp_path / "damaged"
    shutil.copytree(tiny_copy, damaged)
    weights = damaged / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    # a real process: one line, no traceback
    assert_clean_error(run_facecomp("train", "--model", damaged, "--resume", *FAST, check=False), str(weights))
    from engine.errors import FacecompError
    from engine.training.checkpoint import load_model

    with pytest.raises(FacecompError, match="model.safetensors"):
        load_model(damaged)
    foreign = tmp_path / "foreign"
    shutil.copytree(tiny_copy, foreign)
    (foreign / "model.json").write_text(json.dumps({"format": "facecomp-xseg", "version": 1}))
    assert_clean_error(run_inprocess("train", "--model", foreign, "--resume"), "model.json")
    other = tmp_path / "other_arch"
    shutil.copytree(tiny_copy, other)
    meta = json.loads((other / "model.json").read_text())
    meta["options"]["archi"] = "df-ud"
    (other / "model.json").write_text(json.dumps(meta))
    with pytest.raises(FacecompError, match="model.safetensors: weights do not fit"):
        load_model(other)
