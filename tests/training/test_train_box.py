"""The start of `facecomp train` shows DFL's model summary box, as `facecomp model info` does."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_facecomp
from tests.training.conftest import FAST


def test_resume_prints_the_summary_box(tiny_copy: Path):
    res = run_facecomp("train", "--model", tiny_copy, "--resume", "--iterations", "1", *FAST)
    box = res.err[res.err.index("Model Summary"):]
    for text in ("kind: saehd", "iteration: 40", "archi: liae-ud", "ae_dims: 32", "resolution: 64", "loss (last 100)"):
        assert text in box, text
    iteration = json.loads((tiny_copy / "model.json").read_text())["iteration"]
    assert f"iteration: {iteration}" in run_facecomp("model", "info", tiny_copy).out
