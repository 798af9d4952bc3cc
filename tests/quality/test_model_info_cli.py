"""``facecomp model info``: DFL's summary box from a training folder and from its export."""

from __future__ import annotations

import json

import torch

from engine.export.model_folder import export_model_folder
from engine.models import build_model
from engine.training.checkpoint import save_checkpoint
from tests.conftest import assert_clean_error, run_facecomp


def test_model_info_box_of_folder_and_export(tmp_path):
    torch.manual_seed(1)
    model = build_model("saehd", dict(resolution=64, archi="df-ud", ae_dims=48, e_dims=16, d_dims=16,
                                      d_mask_dims=16, face_type="f"))
    folder = tmp_path / "model"
    save_checkpoint(folder, model, 345, meta={"training_seconds": 7384.0, "loss": {"src": 0.4125, "dst": 0.3875}})
    (folder / "schedule.json").write_text(json.dumps({"phase": "warp off"}))
    box = run_facecomp("model", "info", folder).out
    for text in ("Model Summary", "kind: saehd", "iteration: 345", "2h 03m 04s", "src 0.4125", "dst 0.3875",
                 "archi: df-ud", "ae_dims: 48", "resolution: 64", "face_type: f", "schedule: warp off"):
        assert text in box, text
    assert box.index("resolution:") < box.index("adabelief:")  # DFL's order: the fixed facts first
    export_model_folder(folder, None, verify=False)
    facts = json.loads(run_facecomp("model", "info", folder / "model.onnx", "--json").out)
    assert facts["kind"] == "saehd" and facts["iteration"] == 345 and facts["options"]["ae_dims"] == 48
    assert facts["exported"]["input"] == "float32" and facts["loss"] == {"src": 0.4125, "dst": 0.3875}
    assert_clean_error(run_facecomp("model", "info", tmp_path / "nothing", check=False), "no such model")
