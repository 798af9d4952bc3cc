"""DFL model weights -> our architectures: parity with DFL's own outputs on the two sample SAEHD models,
the alignment that made their inputs, and AMP / Quick96 / XSeg layouts synthesised from DFL's conventions."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import torch

from engine.dfl.dfljpg import read_dfljpg
from engine.dfl.model_files import read_model
from engine.dfl.model_import import build_from_options, load_weights, map_options
from engine.errors import FacecompError
from engine.faces.align import transform_mat
from engine.models import parameter_summary
from tests.dfl import dfl_layouts
from tests.dfl.conftest import write_dfl_file

SAMPLES = {"saehd_liae_ud": ("liaeud_SAEHD", "liae-ud"), "saehd_df_ud": ("dfud_SAEHD", "df-ud")}
TOL = 1e-5


@pytest.fixture(scope="module", params=sorted(SAMPLES))
def sample_model(request, samples):
    folder = samples / "models" / request.param
    dfl = read_model(folder, SAMPLES[request.param][0])
    model, _ = build_from_options(dfl)
    load_weights(dfl, model)
    model.eval()
    ref = dict(np.load(samples / "models" / f"{request.param}_ref.npz", allow_pickle=False))
    return request.param, dfl, model, ref


def _nhwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(0, 2, 3, 1).numpy()


def test_options_iteration_and_losses(sample_model):
    name, dfl, model, _ = sample_model
    assert dfl.iteration == 10 and len(dfl.loss_history) == 10 and len(dfl.loss_history[0]) == 2
    assert dfl.numbered_losses()[-1][0] == 10
    opts, notes = map_options(dfl)
    assert "models_opt_on_gpu" not in opts and "models_opt_on_gpu" in notes[0]
    assert type(opts["resolution"]) is int and type(opts["gan_power"]) is float
    assert model.options["archi"] == SAMPLES[name][1] and model.options["face_type"] == "wf"
    assert (model.resolution, model.options["ae_dims"], model.options["e_dims"]) == (64, 32, 16)
    assert model.options["d_dims"] == 16 and model.options["d_mask_dims"] == 16 and model.options["batch_size"] == 2


def test_torch_reproduces_dfl_outputs(sample_model):
    """pred_src_dst, pred_src_dstm, pred_dst_dstm (the merger's outputs) and pred_dst_dst within 1e-5."""
    _, _, model, ref = sample_model
    x = torch.from_numpy(ref["in_face"]).permute(0, 3, 1, 2)
    with torch.no_grad():
        face_mask, celeb, celeb_mask = model.swap(x)
        dst_dst = model(x, x)["pred_dst_dst"]
    diffs = {"pred_src_dst": np.abs(_nhwc(celeb) - ref["pred_src_dst"]).max(),
             "pred_src_dstm": np.abs(_nhwc(celeb_mask) - ref["pred_src_dstm"]).max(),
             "pred_dst_dstm": np.abs(_nhwc(face_mask) - ref["pred_dst_dstm"]).max(),
             "pred_dst_dst": np.abs(_nhwc(dst_dst) - ref["pred_dst_dst"]).max()}
    assert max(diffs.values()) <= TOL, diffs


def test_onnx_export_reproduces_dfl_outputs(sample_model, tmp_path):
    from engine.export.onnx import export_swap_model

    _, dfl, model, ref = sample_model
    path = export_swap_model(model, tmp_path / "m.onnx", {"iteration": dfl.iteration})
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"in_face:0": ref["in_face"]}), strict=True))
    assert np.abs(out["out_celeb_face:0"] - ref["pred_src_dst"]).max() <= TOL
    assert np.abs(out["out_celeb_face_mask:0"] - ref["pred_src_dstm"]).max() <= TOL
    assert np.abs(out["out_face_mask:0"] - ref["pred_dst_dstm"]).max() <= TOL


def test_alignment_recomputes_in_face(samples, data):
    """in_face again from the frames: our transform_mat at 64 whole_face, cubic warp (as DFL's merger).

    The matrix agrees to ~1e-5; the pixels differ by at most ~0.012 (mean ~2.5e-4), which is OpenCV 5's
    cubic warpAffine against the 4.10 that made the reference (the reference matrix gives the same residual).
    """
    ref = np.load(samples / "models" / "saehd_liae_ud_ref.npz", allow_pickle=False)
    for i, name in enumerate(ref["aligned_filename"]):
        meta = read_dfljpg(samples / "aligned" / str(name)).meta
        frame = cv2.imread(str(data / "images" / "in_the_wild" / meta["source_filename"]))
        mat = transform_mat(np.asarray(meta["source_landmarks"]), 64, "whole_face")
        assert np.abs(mat - ref["face_mat"][i]).max() < 1e-4
        face = np.clip(cv2.warpAffine(frame.astype(np.float32) / 255, mat, (64, 64), flags=cv2.INTER_CUBIC), 0, 1)
        diff = np.abs(face - ref["in_face"][i])
        assert diff.max() < 0.02 and diff.mean() < 1e-3, (diff.max(), diff.mean())


def _copy_model(samples: Path, tmp: Path, name: str = "saehd_liae_ud") -> Path:
    dst = tmp / name
    shutil.copytree(samples / "models" / name, dst)
    return dst


@pytest.mark.parametrize("change, message", [
    (lambda w: w.pop("down1/downs_2/conv1/bias:0"), "weight down1/downs_2/conv1/bias:0 missing"),
    (lambda w: w.update({"down1/downs_9/conv1/bias:0": np.zeros(3, np.float32)}),
     "unexpected weight down1/downs_9/conv1/bias:0"),
    (lambda w: w.update({"down1/downs_0/conv1/weight:0": np.zeros((5, 5, 3, 8), np.float32)}),
     "weight down1/downs_0/conv1/weight:0 has shape (5, 5, 3, 8), this architecture needs (5, 5, 3, 16)"),
    (lambda w: w.update({"down1/downs_0/conv1/bias:0": np.zeros(16, np.int32)}), "expected floating point"),
])
def test_key_or_shape_mismatch_names_file_and_key(samples, tmp_path, change, message):
    folder = _copy_model(samples, tmp_path)
    path = folder / "liaeud_SAEHD_encoder.npy"
    weights = _load(path)
    change(weights)
    write_dfl_file(path, weights)
    dfl = read_model(folder)
    model, _ = build_from_options(dfl)
    with pytest.raises(FacecompError) as exc:
        load_weights(dfl, model)
    assert str(exc.value).startswith(f"{path}: ") and message in str(exc.value), str(exc.value)


def _load(path: Path) -> dict:
    from engine.dfl.safe_unpickle import read_dfl_data

    return read_dfl_data(path)


def test_options_of_another_architecture_are_a_clear_error(samples, tmp_path):
    folder = _copy_model(samples, tmp_path)
    data_path = folder / "liaeud_SAEHD_data.dat"
    data = _load(data_path)
    data["options"]["ae_dims"] = np.int64(64)  # weights were trained with 32
    write_dfl_file(data_path, data)
    dfl = read_model(folder)
    model, _ = build_from_options(dfl)
    with pytest.raises(FacecompError, match=r"liaeud_SAEHD_inter_AB.npy: inter_AB: weight dense1/weight:0 has shape"):
        load_weights(dfl, model)
    (folder / "liaeud_SAEHD_decoder.npy").unlink()
    data["options"]["ae_dims"] = np.int64(32)
    write_dfl_file(data_path, data)
    with pytest.raises(FacecompError, match="liaeud_SAEHD_decoder.npy: weight file missing for part decoder"):
        load_weights(dfl, build_from_options(read_model(folder))[0])
    data["options"]["archi"] = "liae-qx"
    write_dfl_file(data_path, data)
    with pytest.raises(FacecompError, match="liaeud_SAEHD_data.dat: archi 'liae-qx'"):
        build_from_options(read_model(folder))


def _synthesise(folder: Path, prefix: str, layout: dfl_layouts.Layout, options: dict, iteration: int = 7) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for part, weights in dfl_layouts.random_weights(layout).items():
        write_dfl_file(folder / f"{prefix}_{part}.npy", weights)
    write_dfl_file(folder / f"{prefix}_data.dat", {"iter": iteration, "options": options,
                                                  "loss_history": [[1.0, 2.0]] * iteration})


AMP_OPTIONS = {"resolution": np.int64(64), "face_type": "wf", "ae_dims": np.int64(32), "inter_dims": np.int64(32),
               "e_dims": np.int64(16), "d_dims": np.int64(16), "d_mask_dims": np.int64(16),
               "morph_factor": np.float64(0.5), "batch_size": 4, "models_opt_on_gpu": True}


@pytest.mark.parametrize("kind", ["amp", "saehd_udt"])
def test_synthesised_layouts_import(tmp_path, kind):
    """Key names and shapes written out from DFL's conventions fit our AMP and SAEHD -udt exactly."""
    if kind == "amp":
        layout = dfl_layouts.amp(64, 32, 32, 16, 16, 16)
        options, prefix = AMP_OPTIONS, "amp_AMP"
    else:
        layout = dfl_layouts.saehd("liae-udt", 64, 32, 16, 16, 16)
        options = {"resolution": 64, "face_type": "full_face", "archi": "liae-udt", "ae_dims": 32, "e_dims": 16,
                   "d_dims": 16, "d_mask_dims": 16, "lr_dropout": True}  # older DFL: long face type, bool
        prefix = "new_SAEHD"
    _synthesise(tmp_path, prefix, layout, options)
    dfl = read_model(tmp_path)
    model, _ = build_from_options(dfl)
    load_weights(dfl, model)
    assert parameter_summary(model)["parts"] == dfl_layouts.count(layout)
    enc = dfl_layouts.random_weights(layout)["encoder"]
    ours = model.state_dict()["encoder.down1.conv1.weight"]
    assert np.array_equal(ours.permute(2, 3, 1, 0).numpy(), enc["down1/conv1/weight:0"])
    # the whole import: a checkpoint that loads back into the same network
    from engine.dfl.model_import import import_model
    from engine.training.checkpoint import load_model

    summary = import_model(tmp_path, tmp_path / "ours")
    assert summary["kind"] == model.kind and summary["iteration"] == 7 and summary["loss_rows"] == 7
    assert kind == "amp" or (model.options["face_type"], model.options["lr_dropout"]) == ("f", "y")
    loaded, meta = load_model(tmp_path / "ours")
    assert meta["options"] == model.options
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(model.eval().swap(x, 0.5), loaded.swap(x, 0.5), strict=True):
            assert torch.equal(a, b)


def test_quick96_layout_matches_ours(tmp_path):
    """Quick96 (df-ud 96, 128/64/64/16, 38.3 M parameters): DFL's keys and shapes against the model that its
    _data.dat builds (DFL stores only training-loop options for this fixed recipe)."""
    from engine.dfl.model_files import DflModel
    from engine.models.naming import dfl_shape, ours_to_dfl_key

    layout = dfl_layouts.saehd("df-ud", 96, 128, 64, 64, 16)
    dfl = DflModel(tmp_path, "new_Quick96", "Quick96", tmp_path / "new_Quick96_data.dat", 5,
                   {"batch_size": np.int64(4), "target_iter": 0, "models_opt_on_gpu": True})
    model, notes = build_from_options(dfl)
    assert model.kind == "quick96" and model.options["batch_size"] == 4 and "models_opt_on_gpu" in notes[0]
    assert (model.resolution, model.face_type, model.options["archi"]) == (96, "full_face", "df-ud")
    ours: dict[str, dict[str, tuple[int, ...]]] = {}
    for name, t in model.state_dict().items():
        part, key = ours_to_dfl_key(name)
        ours.setdefault(part, {})[key] = dfl_shape(tuple(t.shape))
    assert ours == layout
    assert sum(dfl_layouts.count(layout).values()) == 38_294_330


def test_unknown_class_and_model_choice(samples, tmp_path):
    folder = _copy_model(samples, tmp_path)
    shutil.copy(folder / "liaeud_SAEHD_data.dat", folder / "other_SAEHD_data.dat")
    with pytest.raises(FacecompError, match="2 DeepFaceLab models here; choose one with --name: .*liaeud_SAEHD"):
        read_model(folder)
    with pytest.raises(FacecompError, match="no DeepFaceLab model 'nope_SAEHD'"):
        read_model(folder, "nope_SAEHD")
    write_dfl_file(folder / "x_ME_data.dat", {"iter": 1})
    with pytest.raises(FacecompError, match="class 'ME' is not supported"):
        read_model(folder, "x_ME")
