"""XSeg models follow the swap models' rule: a creation-time option asked differently on resume is an error."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import assert_clean_error, run_facecomp


def test_changed_creation_option_is_refused(tiny_model: Path, labelled_faces: Path, tmp_path: Path) -> None:
    model = tmp_path / "xseg"
    shutil.copytree(tiny_model, model)
    res = run_facecomp("xseg", "train", "--model", model, "--facesets", labelled_faces, "--target-iter", 3,
                       "--resolution", 128, check=False)
    assert_clean_error(res, "resolution is fixed when a model is created (this model: 64, asked: 128)")
    same = run_facecomp("xseg", "train", "--model", model, "--facesets", labelled_faces, "--target-iter", 3,
                        "--face-type", "wf", "--batch-size", 2, "--preview-every", 0)
    assert "iteration 3" in same.out  # whole_face given as DFL's wf: the same face type, training continues
