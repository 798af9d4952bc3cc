"""``--model`` given a training folder or its model.json: the error says the fix, or the folder's export is used."""

from __future__ import annotations

import shutil

import pytest
import torch

from engine.export.model_folder import export_model_folder
from engine.models import build_model
from engine.training.checkpoint import save_checkpoint
from tests.conftest import assert_clean_error, run_facecomp


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real (untrained) SAEHD saved by the trainer's checkpoint code, no export yet."""
    torch.manual_seed(3)
    model = build_model("saehd", dict(resolution=64, archi="liae-ud", ae_dims=32, e_dims=16, d_dims=16,
                                      d_mask_dims=16, face_type="wf"))
    folder = tmp_path_factory.mktemp("trained") / "model"
    save_checkpoint(folder, model, 12, meta={"training_seconds": 90.0, "loss": {"src": 0.31, "dst": 0.27}})
    return folder


def test_training_folder_without_export_names_the_fix(trained, shot, tmp_path):
    res = run_facecomp("merge", "--model", trained, "--frames", shot, "--out", tmp_path / "m", check=False)
    assert_clean_error(res, "holds a trained model but no export: run facecomp export --model")
    res = run_facecomp("merge", "--model", trained / "model.json", "--frames", shot, "--out", tmp_path / "m",
                       check=False)
    assert_clean_error(res, "model.json")
    assert "training folder" in res.err and "facecomp export --model" in res.err and "ParseError" not in res.err
    assert not (tmp_path / "m").exists()
    for verb in (["render", "--plate", shot, "--out", tmp_path / "r.%04d.exr"], ["report", "--src", shot / "aligned",
                                                                                   "--dst", shot, "--out", tmp_path]):
        res = run_facecomp(verb[0], "--model", trained, *verb[1:], check=False)
        assert_clean_error(res, "holds a trained model but no export: run facecomp export --model")


def test_training_folder_with_export_is_accepted(trained, shot, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(trained, folder)
    export_model_folder(folder, None, verify=False)
    res = run_facecomp("merge", "--model", folder / "model.json", "--frames", shot, check=False)
    assert_clean_error(res, "give model.onnx")
    res = run_facecomp("merge", "--model", folder, "--frames", shot, "--preview", 2, "--preview-out", tmp_path / "p")
    assert "using its export model.onnx" in res.err
    assert (tmp_path / "p" / "00002_side.png").is_file()
