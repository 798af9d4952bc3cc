"""Make your own RTT model: pretrain on a generic faceset, then start any number of pairs from it (--from)."""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load_file

from tests.conftest import assert_clean_error, run_facecomp
from tests.training.conftest import FAST, TINY, run_inprocess


def _mean_diff(a: dict, b: dict, prefix: str) -> float:
    keys = [k for k in a if k.startswith(prefix) and k.endswith("weight")]
    return sum(float((a[k] - b[k]).abs().mean()) for k in keys) / len(keys)


def test_pairs_start_from_a_pretrained_model(src_faces: Path, dst_faces: Path, tmp_path: Path):
    pre = tmp_path / "pretrained"
    run_facecomp("train", "--model", pre, "--kind", "saehd", "--pretrain", "--src", src_faces, "--archi", "df-ud",
                 *TINY, "--iterations", "3", *FAST)
    pre_meta = json.loads((pre / "model.json").read_text())
    pre_weights = load_file(str(pre / "model.safetensors"))
    pair = tmp_path / "pair"
    res = run_facecomp("train", "--model", pair, "--from", pre, "--src", src_faces, "--dst", dst_faces,
                       "--schedule", "quick-test", "--iterations", "2", *FAST)
    assert "new model from" in res.err
    meta = json.loads((pair / "model.json").read_text())
    assert meta["options"]["pretrain"] is False and meta["iteration"] == 2  # DFL restarts the count
    assert meta["started_from"]["iteration"] == 3 and meta["schedule"]["name"] == "quick-test"
    assert meta["training"]["dst"] == str(dst_faces.resolve())
    weights = load_file(str(pair / "model.safetensors"))
    # the encoder and decoders continue from the pretrained weights; the inter starts fresh (pretrain off)
    kept = _mean_diff(weights, pre_weights, "encoder.")
    assert kept < 0.1 * _mean_diff(weights, pre_weights, "inter.")
    assert json.loads((pre / "model.json").read_text()) == pre_meta  # the pretrained model is untouched
    assert not (pre / "loss.jsonl").read_text().count('"iteration": 4')
    res = run_inprocess("train", "--model", pair, "--from", pre, "--src", src_faces, "--dst", dst_faces, *FAST)
    assert_clean_error(res, "new or empty --model folder")
    assert_clean_error(run_inprocess("train", "--model", tmp_path / "p2", "--from", tmp_path / "nothing",
                                     "--src", src_faces, "--dst", dst_faces, *FAST), "--from must be a model folder")
