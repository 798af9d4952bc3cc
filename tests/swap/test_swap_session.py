"""The ONNX Runtime session wrapper: DFM signature, metadata, providers, batching, clear errors."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from engine.errors import FacecompError
from engine.swap.onnx_model import FaceSwapModel, choose_providers
from tests.conftest import assert_clean_error, run_facecomp


def test_model_metadata_providers_and_outputs(models):
    m = FaceSwapModel(models["tiny"], provider="cpu")
    assert m.resolution == 64 and m.face_type.label == "whole_face" and m.kind == "tiny"
    assert m.providers == ["CPUExecutionProvider"]
    assert "CPU" in m.describe()
    rng = np.random.default_rng(0)
    faces = rng.random((11, 64, 64, 3), dtype=np.float32)
    dst_mask, face, src_mask = m.run(faces)
    assert dst_mask.shape == (11, 64, 64, 1) and face.shape == (11, 64, 64, 3) and src_mask.shape == (11, 64, 64, 1)
    for a in (dst_mask, face, src_mask):
        assert a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1
    m.max_batch = 4  # chunked batches give the same faces as one call per face
    one_by_one = np.concatenate([m.run(f)[1] for f in faces])
    assert np.abs(m.run(faces)[1] - one_by_one).max() < 1e-5


def test_real_export_runs(saehd_onnx):
    m = FaceSwapModel(saehd_onnx)
    assert m.kind == "saehd" and m.resolution == 64 and not m.is_morphable
    _, face, _ = m.run(np.full((2, 64, 64, 3), 0.5, np.float32))
    assert face.shape == (2, 64, 64, 3)


def test_dfm_without_metadata_uses_shape_and_default_face_type(models, caplog):
    with caplog.at_level(logging.INFO, logger="facecomp"):
        m = FaceSwapModel(models["tiny_dfm"])
    assert m.resolution == 96 and m.face_type.label == "whole_face" and m.kind == "dfm"
    assert "no face_type metadata" in caplog.text
    assert FaceSwapModel(models["tiny_dfm"], face_type="f").face_type.label == "full_face"


def test_amp_morph_values_differ(models):
    m = FaceSwapModel(models["tiny_amp"])
    assert m.is_morphable
    x = np.random.default_rng(1).random((1, 64, 64, 3), dtype=np.float32)
    assert np.abs(m.run(x, morph=0.0)[1] - m.run(x, morph=1.0)[1]).max() > 0.1


def test_provider_choice_falls_back_and_reports(caplog):
    assert choose_providers("cpu") == ["CPUExecutionProvider"]
    assert choose_providers("auto")[-1] == "CPUExecutionProvider"
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with caplog.at_level(logging.WARNING, logger="facecomp"):
            assert choose_providers("cuda") == ["CPUExecutionProvider"]
        assert "not in this onnxruntime build" in caplog.text
    with pytest.raises(FacecompError, match="unknown execution provider"):
        choose_providers("quantum")


def test_bad_model_files_give_one_line_naming_the_file(make_tiny, tmp_path):
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x08\x07garbage" * 100)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    wrong = make_tiny(tmp_path / "wrong.onnx", rename_input="image")
    for path, text in ((garbage, "not an ONNX model"), (empty, "empty"), (wrong, "in_face"),
                       (tmp_path / "missing.onnx", "no such")):
        with pytest.raises(FacecompError) as err:
            FaceSwapModel(path)
        assert str(path) in str(err.value) and text in str(err.value)


def test_cli_merge_with_corrupt_model_is_a_clean_error(shot, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 100)
    res = run_facecomp("merge", "--model", bad, "--frames", shot, "--out", tmp_path / "merged", check=False)
    assert_clean_error(res, "bad.onnx")
    assert not (tmp_path / "merged").exists() or not any((tmp_path / "merged").iterdir())
