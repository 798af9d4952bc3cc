"""Fixtures of the quality tests: a tiny trained-model folder (random weights) and its ONNX export."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.quality.dfm_models import tiny_saehd_folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A SAEHD model folder (engine.training.checkpoint) at iteration 7 and its export ``model.onnx`` inside it."""
    from engine.export.model_folder import export_model_folder

    folder = tmp_path_factory.mktemp("tiny_model")
    tiny_saehd_folder(folder, 7, {"training_seconds": 12.5})
    report = export_model_folder(folder, folder / "model.onnx", verify=False)
    return folder, report.path
