"""A DeepFaceLab-style .dfm (DFM signature, no facecomp metadata) runs through the swap runtime."""

from __future__ import annotations

import logging

import numpy as np
import onnx
import pytest

from engine.dfl.model_files import read_model
from engine.dfl.model_import import build_from_options, load_weights
from engine.faces.facetype import FaceType


@pytest.fixture(scope="module")
def dfl_dfm(samples, tmp_path_factory):
    """The imported liae-ud sample exported with our exporter, then stripped of our metadata_props, as a
    DFL/DeepFaceLive .dfm (same tensor names: in_face:0 -> out_face_mask:0, out_celeb_face:0, out_celeb_face_mask:0)."""
    from engine.export.onnx import export_swap_model

    dfl = read_model(samples / "models" / "saehd_liae_ud", "liaeud_SAEHD")
    model, _ = build_from_options(dfl)
    load_weights(dfl, model)
    folder = tmp_path_factory.mktemp("dfm")
    ours = export_swap_model(model, folder / "ours.onnx", {"iteration": dfl.iteration})
    proto = onnx.load(str(ours))
    assert {p.key for p in proto.metadata_props} >= {"face_type", "resolution"}
    del proto.metadata_props[:]
    names = ([i.name for i in proto.graph.input], [o.name for o in proto.graph.output])
    assert names == (["in_face:0"], ["out_face_mask:0", "out_celeb_face:0", "out_celeb_face_mask:0"])
    path = folder / "liaeud_SAEHD_model.dfm"
    onnx.save(proto, str(path))
    ref = dict(np.load(samples / "models" / "saehd_liae_ud_ref.npz", allow_pickle=False))
    return path, ref


def test_dfm_loads_with_defaults_and_reproduces_dfl(dfl_dfm, caplog):
    from engine.swap.onnx_model import FaceSwapModel

    path, ref = dfl_dfm
    with caplog.at_level(logging.INFO, logger="facecomp"):
        m = FaceSwapModel(path, provider="cpu")
    assert m.resolution == 64 and m.face_type == FaceType.WHOLE_FACE and not m.is_morphable
    assert "no face_type metadata" in caplog.text and "whole_face" in caplog.text
    dst_mask, face, src_mask = m.run(ref["in_face"])
    assert np.abs(face - ref["pred_src_dst"]).max() <= 1e-5
    assert np.abs(src_mask - ref["pred_src_dstm"]).max() <= 1e-5
    assert np.abs(dst_mask - ref["pred_dst_dstm"]).max() <= 1e-5


def test_dfm_face_type_from_the_caller(dfl_dfm):
    from engine.swap.onnx_model import FaceSwapModel

    assert FaceSwapModel(dfl_dfm[0], provider="cpu", face_type="f").face_type == FaceType.FULL
    assert FaceSwapModel(dfl_dfm[0], provider="cpu", face_type="head").face_type == FaceType.HEAD


def test_dfm_merges_an_imported_dfl_faceset(samples, data, dfl_dfm, tmp_path):
    """DFL's faces (import-dfl faceset) + a DFL-style .dfm through `facecomp merge`: DFL work, our merger."""
    import shutil

    import cv2

    from engine.dfl.faceset_import import import_faceset
    from tests.conftest import run_facecomp

    frames, aligned = tmp_path / "frames", tmp_path / "aligned"
    frames.mkdir()
    for name in ("000010.jpg", "000023.jpg"):
        shutil.copy(data / "images" / "in_the_wild" / name, frames / name)
    src = tmp_path / "dfl_aligned"
    src.mkdir()
    for name in ("000010_0.jpg", "000023_0.jpg"):
        shutil.copy(samples / "aligned" / name, src / name)
    assert len(import_faceset(src, aligned).imported) == 2
    res = run_facecomp("merge", "--model", dfl_dfm[0], "--frames", frames, "--aligned", aligned,
                       "--out", tmp_path / "merged", "--mask-out", tmp_path / "mask")
    assert "no face_type metadata" in res.err and "whole_face" in res.err
    for name in ("000010", "000023"):
        mask = cv2.imread(str(tmp_path / "mask" / f"{name}.png"), cv2.IMREAD_GRAYSCALE)
        merged = cv2.imread(str(tmp_path / "merged" / f"{name}.png"))
        plate = cv2.imread(str(frames / f"{name}.jpg"))
        assert merged.shape == plate.shape and mask.max() > 128
        changed = np.abs(merged.astype(int) - plate).max(axis=2) > 8
        assert changed[mask == 0].mean() < 0.01 < changed[mask > 200].mean()
