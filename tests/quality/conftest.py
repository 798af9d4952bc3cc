"""Fixtures of the quality tests: a tiny trained-model folder (random weights) and its ONNX export."""

from __future__ import annotations

from pathlib import Path

import pytest

TINY = {"resolution": 64, "archi": "df-ud", "ae_dims": 32, "e_dims": 16, "d_dims": 16, "d_mask_dims": 16,
        "face_type": "wf"}


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A SAEHD model folder (engine.training.checkpoint) at iteration 7 and its export ``model.onnx`` inside it."""
    import torch

    from engine.export.model_folder import export_model_folder
    from engine.models import build_model, model_options
    from engine.training.checkpoint import save_checkpoint

    torch.manual_seed(0)
    options = {o.name: o.default for o in model_options("saehd")} | TINY
    model = build_model("saehd", options)
    folder = tmp_path_factory.mktemp("tiny_model")
    save_checkpoint(folder, model, 7, None, {"training_seconds": 12.5})
    report = export_model_folder(folder, folder / "model.onnx", verify=False)
    return folder, report.path
