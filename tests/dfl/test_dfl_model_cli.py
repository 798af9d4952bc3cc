"""`facecomp import-dfl model` end to end: the sample SAEHD models, XSeg (synthesised DFL files), optimizer
state, discriminators, refusals and clean errors."""

from __future__ import annotations

import json
import os
import pickle
import shutil

import numpy as np
import pytest
import torch

from engine.xseg.model import XSegNet
from tests.conftest import assert_clean_error, run_facecomp
from tests.dfl.conftest import write_dfl_file, xseg_dfl_weights


@pytest.fixture(scope="module")
def dfl_xseg(tmp_path_factory):
    """A DFL XSeg folder: XSeg_256.npy (protocol 3, as DFL on older Python), XSeg_256_opt.npy, XSeg_data.dat."""
    folder = tmp_path_factory.mktemp("dfl_xseg")
    torch.manual_seed(1)
    net = XSegNet(256)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    weights = xseg_dfl_weights(net)
    write_dfl_file(folder / "XSeg_256.npy", weights, protocol=3)
    # RMSprop accumulators (DFL keeps one per weight; the small ones here keep the test fast)
    acc = {f"acc_XSeg/{k.replace(':', '_')}:0": np.abs(v) * 1e-3 for k, v in weights.items() if v.size <= 40_000}
    write_dfl_file(folder / "XSeg_256_opt.npy", {"iters:0": np.int64(437), **acc})
    write_dfl_file(folder / "XSeg_data.dat", {
        "iter": 437, "options": {"face_type": "wf", "pretrain": False, "batch_size": np.int64(4)},
        "loss_history": [[0.7 - 0.001 * i] for i in range(437)], "sample_for_preview": None})
    x = torch.rand(1, 3, 256, 256)
    with torch.no_grad():
        logits = net(x)
    return folder, weights, x, logits


def test_xseg_layout_facts(dfl_xseg):
    _, weights, _, _ = dfl_xseg
    assert len(weights) == 222 and sum(v.size for v in weights.values()) == 17_569_317
    assert weights["conv01/conv/weight:0"].shape == (3, 3, 3, 32) and weights["conv01/frn/eps:0"].shape == (1,)


def test_xseg_import(dfl_xseg, tmp_path):
    from engine.dfl.model_import import import_model
    from engine.xseg import checkpoint

    folder, _, x, logits = dfl_xseg
    out = tmp_path / "xseg"
    summary = import_model(folder, out)  # the folder's only model: no name needed (same path as the CLI)
    assert summary["kind"] == "xseg" and summary["iteration"] == 437 and summary["optimizer"] is True
    model, meta = checkpoint.load_model(out)
    assert meta["iteration"] == 437 and meta["face_type"] == "whole_face" and meta["options"]["batch_size"] == 4
    with torch.no_grad():
        assert torch.equal(model(x), logits)
    acc = checkpoint.load_optimizer_state(out)
    assert len(acc) == sum(v.size <= 40_000 for v in dfl_xseg[1].values()) > 150
    np.testing.assert_allclose(acc["conv01.conv.weight.a"].permute(2, 3, 1, 0).numpy(),
                               np.abs(dfl_xseg[1]["conv01/conv/weight:0"]) * 1e-3)
    rows = [json.loads(line) for line in (out / "loss.jsonl").read_text().splitlines()]
    assert len(rows) == 437 and rows[-1]["iteration"] == 437 and abs(rows[0]["loss"] - 0.7) < 1e-9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["xseg"]  # no staging folders left behind


def test_xseg_mismatch_names_file_and_key(dfl_xseg, tmp_path):
    from engine.dfl.xseg_import import load_weights
    from engine.errors import FacecompError

    weights = dict(dfl_xseg[1])
    weights["conv01/conv/weight:0"] = np.zeros((3, 3, 3, 16), np.float32)
    path = write_dfl_file(tmp_path / "XSeg_256.npy", weights)
    with pytest.raises(FacecompError, match=r"XSeg_256.npy: conv01/conv/weight:0: shape \(3, 3, 3, 16\)"):
        load_weights(XSegNet(256), path)
    del weights["conv01/conv/weight:0"]
    write_dfl_file(path, weights)
    with pytest.raises(FacecompError, match="XSeg_256.npy: missing XSeg weights: conv01.conv.weight"):
        load_weights(XSegNet(256), path)


class _RunsCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_files_refused_nothing_run(samples, tmp_path):
    """Mirrors the acceptance check: a weight file or the _data.dat that would run a command."""
    marker = tmp_path / "PWNED"
    evil = tmp_path / "evil_model"
    shutil.copytree(samples / "models" / "saehd_liae_ud", evil)
    (evil / "liaeud_SAEHD_encoder.npy").write_bytes(pickle.dumps({"x": _RunsCommand(marker)}))
    res = run_facecomp("import-dfl", "model", evil, "--name", "liaeud_SAEHD", tmp_path / "out", check=False)
    assert_clean_error(res, "liaeud_SAEHD_encoder.npy")
    assert "not allowed" in res.err and not marker.exists() and not (tmp_path / "out").exists()
    shutil.copy(samples / "models" / "saehd_liae_ud" / "liaeud_SAEHD_encoder.npy", evil)
    (evil / "liaeud_SAEHD_data.dat").write_bytes(pickle.dumps({"iter": _RunsCommand(marker)}, protocol=2))
    res = run_facecomp("import-dfl", "model", evil, tmp_path / "out", check=False)
    assert_clean_error(res, "liaeud_SAEHD_data.dat")
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_destination_rules(samples, tmp_path):
    src = samples / "models" / "saehd_df_ud"
    assert_clean_error(run_facecomp("import-dfl", "model", src, src, check=False), "never modified")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    assert_clean_error(run_facecomp("import-dfl", "model", src, busy, check=False), "not empty")
    assert (busy / "notes.txt").read_text() == "mine"


SAMPLE_PREFIX = {"saehd_liae_ud": "liaeud_SAEHD", "saehd_df_ud": "dfud_SAEHD"}


@pytest.fixture(scope="module")
def imported_models(samples, tmp_path_factory):
    """Both sample SAEHD models imported: liae-ud with the CLI as the acceptance check does, df-ud in-process."""
    from engine.dfl.model_import import import_model

    out = tmp_path_factory.mktemp("imported")
    res = run_facecomp("import-dfl", "model", samples / "models" / "saehd_liae_ud", "--name", "liaeud_SAEHD",
                       out / "saehd_liae_ud", "--json")
    summaries = {"saehd_liae_ud": json.loads(res.out),
                 "saehd_df_ud": import_model(samples / "models" / "saehd_df_ud", out / "saehd_df_ud", "dfud_SAEHD")}
    return out, summaries


@pytest.mark.parametrize("name", sorted(SAMPLE_PREFIX))
def test_sample_model_checkpoint(samples, imported_models, name):
    from engine.dfl.safe_unpickle import read_dfl_data
    from engine.training.checkpoint import load_model
    from engine.training.run_plan import read_existing

    out, summaries = imported_models
    assert summaries[name]["iteration"] == 10 and summaries[name]["optimizer"] is False
    model, meta = load_model(out / name)
    assert meta["kind"] == "saehd" and meta["iteration"] == 10
    assert meta["options"]["archi"] == name[6:].replace("_", "-")
    assert meta["imported_from"]["deepfacelab"] == SAMPLE_PREFIX[name]
    assert read_existing(out / name)["iteration"] == 10  # what `facecomp train --resume` starts from
    dfl = read_dfl_data(samples / "models" / name / f"{SAMPLE_PREFIX[name]}_data.dat")
    rows = [json.loads(line) for line in (out / name / "loss.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == list(range(1, 11))
    assert [[r["loss_src"], r["loss_dst"]] for r in rows] == dfl["loss_history"]
    ref = np.load(samples / "models" / f"{name}_ref.npz", allow_pickle=False)
    with torch.no_grad():
        _, face, mask = model.swap(torch.from_numpy(ref["in_face"]).permute(0, 3, 1, 2))
    assert np.abs(face.permute(0, 2, 3, 1).numpy() - ref["pred_src_dst"]).max() <= 1e-5
    assert np.abs(mask.permute(0, 2, 3, 1).numpy() - ref["pred_src_dstm"]).max() <= 1e-5


def test_cli_export_reproduces_dfl(samples, imported_models):
    """import-dfl model -> facecomp export -> ONNX Runtime, against DFL's reference outputs (as the check)."""
    import onnxruntime as ort

    onnx_path = imported_models[0] / "liae.onnx"
    run_facecomp("export", "--model", imported_models[0] / "saehd_liae_ud", "--out", onnx_path)
    ref = np.load(samples / "models" / "saehd_liae_ud_ref.npz", allow_pickle=False)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    out = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"in_face:0": ref["in_face"]}), strict=True))
    assert np.abs(out["out_celeb_face:0"] - ref["pred_src_dst"]).max() <= 1e-5
    assert np.abs(out["out_celeb_face_mask:0"] - ref["pred_src_dstm"]).max() <= 1e-5
    assert np.abs(out["out_face_mask:0"] - ref["pred_dst_dstm"]).max() <= 1e-5


def _adabelief_file(folder, prefix, parts, rng):
    from engine.dfl.safe_unpickle import read_dfl_data

    opt = {"iters:0": np.int64(10)}
    for part in parts:
        for key, w in read_dfl_data(folder / f"{prefix}_{part}.npy").items():
            var = f"{part}/{key}".replace(":", "_") + ":0"
            opt["ms_" + var] = rng.standard_normal(w.shape).astype(np.float32)
            opt["vs_" + var] = np.abs(rng.standard_normal(w.shape)).astype(np.float32)
    return write_dfl_file(folder / f"{prefix}_src_dst_opt.npy", opt)


def test_optimizer_state_and_force(samples, imported_models, tmp_path):
    """A DFL AdaBelief state (ms_/vs_ per weight) lands where the trainer's optimizer restores it."""
    from engine.dfl.model_import import import_model
    from engine.dfl.safe_unpickle import read_dfl_data
    from engine.errors import FacecompError
    from engine.training.checkpoint import load_model, read_tensors
    from engine.training.optimizers import DFLOptimizer, FlatParams

    folder = tmp_path / "dfl"
    shutil.copytree(samples / "models" / "saehd_liae_ud", folder)
    opt_file = _adabelief_file(folder, "liaeud_SAEHD", ("encoder", "inter_AB", "inter_B", "decoder"),
                               np.random.default_rng(0))
    dst = imported_models[0] / "saehd_liae_ud"
    assert_clean_error(run_facecomp("import-dfl", "model", folder, dst, check=False), "--force")
    res = run_facecomp("import-dfl", "model", folder, dst, "--force", "--json")
    assert json.loads(res.out)["optimizer"] is True
    model, meta = load_model(dst)
    tensors = read_tensors(dst, "optimizer.safetensors", meta["checkpoint_id"])
    flat = FlatParams(model.named_parameters())
    opt = DFLOptimizer(flat, "adabelief")
    assert opt.load_state_tensors(tensors) == len(flat.names) == 56 and opt.iterations == 10
    dfl = read_dfl_data(opt_file)["ms_encoder/down1/downs_0/conv1/weight_0:0"]
    np.testing.assert_array_equal(tensors["src_dst_opt.ms.encoder.down1.downs.0.conv1.weight"].permute(2, 3, 1, 0),
                                  dfl)
    # a slot for a weight this architecture does not have: one clear error naming the file and key
    bad = read_dfl_data(opt_file)
    bad["ms_encoder/down9/conv1/weight_0:0"] = np.zeros((1,), np.float32)
    write_dfl_file(opt_file, bad)
    with pytest.raises(FacecompError) as exc:
        import_model(folder, tmp_path / "out")
    assert str(exc.value).startswith(f"{opt_file}: optimizer state ms_encoder/down9/conv1/weight_0:0: ")
    assert not (tmp_path / "out").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["dfl"]


def test_gan_and_true_face_discriminators(samples, tmp_path):
    """GAN.npy and code_discriminator.npy (when their powers are on) -> discriminators.safetensors."""
    from engine.dfl.model_import import import_model
    from engine.dfl.safe_unpickle import read_dfl_data
    from engine.errors import FacecompError
    from engine.models.discriminators import CodeDiscriminator, UNetPatchDiscriminator
    from engine.models.naming import state_dict_to_dfl_part
    from engine.training.checkpoint import read_model_json, read_tensors

    folder = tmp_path / "dfl"
    shutil.copytree(samples / "models" / "saehd_df_ud", folder)
    data = read_dfl_data(folder / "dfud_SAEHD_data.dat")
    data["options"].update(gan_power=np.float64(0.1), true_face_power=np.float64(0.1))
    write_dfl_file(folder / "dfud_SAEHD_data.dat", data)
    torch.manual_seed(3)
    # DFL sizes the true-face discriminator by the inter's output side: 4 for df-ud at 64 px
    nets = {"GAN": ("gan", UNetPatchDiscriminator(8, 3, 16)), "code_discriminator": ("code_discriminator",
                                                                                     CodeDiscriminator(32, 4))}
    for file_part, (part, net) in nets.items():
        state = {f"{part}.{k}": v for k, v in net.state_dict().items()}
        write_dfl_file(folder / f"dfud_SAEHD_{file_part}.npy", state_dict_to_dfl_part(part, state))
    summary = import_model(folder, tmp_path / "out")
    assert summary["discriminators"] == ["code_discriminator", "gan"]
    meta = read_model_json(tmp_path / "out")
    tensors = read_tensors(tmp_path / "out", "discriminators.safetensors", meta["checkpoint_id"])
    for part, net in nets.values():
        for k, v in net.state_dict().items():
            assert torch.equal(tensors[f"{part}.{k}"], v), k
    # a GAN file of other dims is one clear error naming the file
    data["options"]["gan_dims"] = 32
    write_dfl_file(folder / "dfud_SAEHD_data.dat", data)
    with pytest.raises(FacecompError, match="dfud_SAEHD_GAN.npy: gan: weight"):
        import_model(folder, tmp_path / "out2")
