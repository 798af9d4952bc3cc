"""ONNX export in the DFM signature: parity with torch eager, DeepFaceLive's expectations, fp16, validator errors."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from engine.errors import FacecompError
from engine.export.onnx import export_swap_model, verify_export
from engine.export.signature import METADATA_KEYS, OUTPUTS, check_dfm_signature
from engine.models import build_model
from tests.models.dfl_samples import SAMPLES, load_dfl_sample

SMALL = dict(resolution=64, ae_dims=32, e_dims=16, d_dims=16, d_mask_dims=16)
CASES = {
    "saehd_df": ("saehd", {**SMALL, "archi": "df"}),
    "saehd_liae": ("saehd", {**SMALL, "archi": "liae"}),
    "saehd_df_ud": ("saehd", {**SMALL, "archi": "df-ud"}),
    "saehd_liae_udt": ("saehd", {**SMALL, "archi": "liae-udt"}),
    "amp": ("amp", {**SMALL, "inter_dims": 32}),
    "quick96": ("quick96", {}),
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each case built once (seeded) and exported once: {name: (model, path)}."""
    out = {}
    root = tmp_path_factory.mktemp("export")
    for i, (name, (kind, options)) in enumerate(CASES.items()):
        torch.manual_seed(i)
        model = build_model(kind, options)
        folder = root / name
        out[name] = (model, export_swap_model(model, folder / f"{name}.onnx", {"iteration": 1234,
                                                                               "landmarker": "test"}))
    return out


def run_onnx(path, faces, morph=None):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {"in_face:0": faces}
    if morph is not None:
        feed["morph_value:0"] = np.array([morph], np.float32)
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feed), strict=True))


@pytest.mark.parametrize("name", list(CASES))
def test_export_matches_torch_eager(exported, name):
    model, path = exported[name]
    assert verify_export(model, path, batch=2) < 1e-5
    assert model.training  # export leaves the model as it was


@pytest.mark.parametrize("name", ["saehd_df_ud", "amp"])
def test_signature_is_what_deepfacelive_expects(exported, name):
    model, path = exported[name]
    proto = onnx.load(str(path))
    inputs = [(i.name, [d.dim_value or d.dim_param for d in i.type.tensor_type.shape.dim]) for i in proto.graph.input]
    assert "in_face" in inputs[0][0] and inputs[0][1][1:] == [64, 64, 3] and isinstance(inputs[0][1][0], str)
    if name == "amp":
        assert inputs[1] == ("morph_value:0", [1]) and len(inputs) == 2
    else:
        assert len(inputs) == 1
    assert [o.name for o in proto.graph.output] == list(OUTPUTS)
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    meta = {p.key: p.value for p in proto.metadata_props}
    assert set(METADATA_KEYS) <= set(meta)
    assert meta["model"] == model.kind and meta["resolution"] == "64" and meta["iteration"] == "1234"
    assert meta["face_type"] == {"saehd": "full_face", "amp": "whole_face"}[model.kind]
    assert meta["color_space"] == "sRGB - Texture" and meta["landmarker"] == "test"
    assert json.loads(meta["options"]) == model.options  # the model's DFL options, as a JSON object
    # one self-contained file
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer)
    info = check_dfm_signature(path)
    assert info.resolution == 64 and info.is_amp == (name == "amp") and info.dynamic_batch


def test_dynamic_batch(exported):
    _, path = exported["saehd_liae"]
    faces = np.random.default_rng(0).random((3, 64, 64, 3), dtype=np.float32)
    one = run_onnx(path, faces[:1])
    three = run_onnx(path, faces)
    assert three["out_celeb_face:0"].shape == (3, 64, 64, 3) and three["out_face_mask:0"].shape == (3, 64, 64, 1)
    np.testing.assert_allclose(three["out_celeb_face:0"][:1], one["out_celeb_face:0"], atol=1e-6)


def test_amp_two_morph_values_give_different_faces(exported):
    model, path = exported["amp"]
    faces = np.random.default_rng(1).random((2, 64, 64, 3), dtype=np.float32)
    lo, hi = run_onnx(path, faces, 0.25), run_onnx(path, faces, 1.0)
    assert float(np.abs(lo["out_celeb_face:0"] - hi["out_celeb_face:0"]).max()) > 1e-3
    np.testing.assert_array_equal(lo["out_face_mask:0"], hi["out_face_mask:0"])
    with torch.no_grad():
        _, face, _ = model.eval().swap(torch.from_numpy(faces).permute(0, 3, 1, 2), 0.25)
    model.train()
    np.testing.assert_allclose(lo["out_celeb_face:0"], face.permute(0, 2, 3, 1).numpy(), atol=1e-5)


def test_fp16_export_runs_and_is_close(exported, tmp_path):
    model, _ = exported["saehd_df_ud"]
    path = export_swap_model(model, tmp_path / "half.dfm", fp16=True)
    info = check_dfm_signature(path)
    assert info.input_dtype == "float32"  # fp32 I/O
    assert verify_export(model, path) < 2e-3
    proto = onnx.load(str(path))
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in proto.graph.initializer)


def test_dfm_extension_writes_the_same_model(exported, tmp_path):
    model, onnx_path = exported["saehd_df"]
    dfm = export_swap_model(model, tmp_path / "face.dfm", {"iteration": 1234, "landmarker": "test"})
    faces = np.random.default_rng(2).random((1, 64, 64, 3), dtype=np.float32)
    a, b = run_onnx(onnx_path, faces), run_onnx(dfm, faces)
    for key in OUTPUTS:
        np.testing.assert_array_equal(a[key], b[key])
    with pytest.raises(FacecompError, match=r"\.onnx or \.dfm"):
        export_swap_model(model, tmp_path / "face.pt")


def test_validator_errors_name_the_file(tmp_path, exported):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07garbage" * 100)
    with pytest.raises(FacecompError, match=r"junk.onnx: not an ONNX model"):
        check_dfm_signature(junk)
    empty = tmp_path / "empty.dfm"
    empty.write_bytes(b"")
    with pytest.raises(FacecompError, match="empty.dfm: not an ONNX model"):
        check_dfm_signature(empty)
    _, path = exported["saehd_df"]
    proto = onnx.load(str(path))
    proto.graph.input[0].name = "image"
    for node in proto.graph.node:
        node.input[:] = ["image" if i == "in_face:0" else i for i in node.input]
    renamed = tmp_path / "other.onnx"
    onnx.save(proto, str(renamed))
    with pytest.raises(FacecompError, match=r"other.onnx: input in_face:0 missing"):
        check_dfm_signature(renamed)
    proto = onnx.load(str(path))
    proto.graph.output[1].name = "face"
    with pytest.raises(FacecompError, match="output out_celeb_face:0 missing"):
        check_dfm_signature(proto)


@pytest.mark.parametrize("name,prefix", SAMPLES)
def test_dfl_sample_export_reproduces_dfl_outputs(data, tmp_path, name, prefix):
    model, ref = load_dfl_sample(data / "dfl_samples" / "models", name, prefix)
    path = export_swap_model(model, tmp_path / f"{name}.dfm")
    out = run_onnx(path, ref["in_face"])
    for ours, theirs in (("out_celeb_face:0", "pred_src_dst"), ("out_celeb_face_mask:0", "pred_src_dstm"),
                         ("out_face_mask:0", "pred_dst_dstm")):
        assert float(np.abs(out[ours] - ref[theirs]).max()) <= 1e-5, ours
