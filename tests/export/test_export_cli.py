"""``facecomp export`` on model folders written by the trainer's checkpoint code."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from engine.errors import FacecompError
from engine.export.model_folder import export_model_folder
from engine.export.signature import check_dfm_signature
from engine.models import build_model
from engine.quality.model_info import model_info
from engine.training.checkpoint import save_checkpoint
from tests.conftest import assert_clean_error, run_facecomp


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(3)
    model = build_model("saehd", dict(resolution=64, archi="liae-ud", ae_dims=32, e_dims=16, d_dims=16,
                                      d_mask_dims=16, face_type="wf"))
    folder = tmp_path_factory.mktemp("model")
    save_checkpoint(folder, model, 77, meta={"landmarker": "mediapipe-facemesh-test", "training_seconds": 3725.5})
    return folder, model


def test_export_cli_writes_a_verified_dfm(model_dir, tmp_path):
    folder, model = model_dir
    out = tmp_path / "face.dfm"
    res = run_facecomp("export", "--model", folder, "--out", out)
    assert "max abs diff to PyTorch" in res.out and "iteration 77" in res.out
    info = check_dfm_signature(out)
    assert info.metadata["iteration"] == "77" and info.metadata["face_type"] == "whole_face"
    assert info.metadata["landmarker"] == "mediapipe-facemesh-test" and info.metadata["archi"] == "liae-ud"
    # model.json's options and training time travel in the file: a lone .onnx tells the quality report both
    stored = json.loads((folder / "model.json").read_text())
    assert json.loads(info.metadata["options"]) == stored["options"] and stored["options"]["ae_dims"] == 32
    assert float(info.metadata["training_seconds"]) == 3725.5
    report = model_info(out, info.metadata, None)
    assert report["options"] == stored["options"] and report["training_hours"] == round(3725.5 / 3600, 3)
    faces = np.random.default_rng(0).random((2, 64, 64, 3), dtype=np.float32)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    celeb = sess.run(["out_celeb_face:0"], {"in_face:0": faces})[0]
    with torch.no_grad():
        _, face, _ = model.eval().swap(torch.from_numpy(faces).permute(0, 3, 1, 2))
    np.testing.assert_allclose(celeb, face.permute(0, 2, 3, 1).numpy(), atol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face.dfm"]


def test_export_cli_fp16_default_path(model_dir):
    folder, _ = model_dir
    run_facecomp("export", "--model", folder, "--fp16")
    info = check_dfm_signature(folder / "model_fp16.onnx")
    assert info.input_dtype == "float32" and info.resolution == 64


def test_export_cli_bad_inputs_give_one_line(tmp_path, model_dir):
    res = run_facecomp("export", "--model", tmp_path / "nothing", "--out", tmp_path / "x.onnx", check=False)
    assert_clean_error(res, "model.json")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(FacecompError, match="not a facecomp swap model"):
        export_model_folder(bad, tmp_path / "x.onnx")
    folder, _ = model_dir
    with pytest.raises(FacecompError, match=r"x.pt: export writes .onnx or .dfm"):
        export_model_folder(folder, tmp_path / "x.pt")
    assert not list(tmp_path.glob("x.*"))
