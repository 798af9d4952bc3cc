"""The run plan from plain values (engine.training.run_plan.plan): face type from the src faceset, rounding that
is said, one rule for creation-time options; and kind-specific `train --help`."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import FacecompError
from engine.training.run_plan import plan
from tests.conftest import run_facecomp


def test_face_type_comes_from_the_src_faceset(src_faces: Path, tmp_path: Path) -> None:
    p = plan(tmp_path / "m", None, kind="saehd", src=str(src_faces), dst=str(src_faces))
    assert p.options["face_type"] == "wf"  # the fixture faceset is whole_face; SAEHD's own default is f
    assert any("from the src faceset" in n for n in p.notes)
    given = plan(tmp_path / "m", None, kind="saehd", flags={"face_type": "full"}, src=str(src_faces))
    assert given.options["face_type"] == "f"
    assert any("differs from the src faceset's (wf)" in n for n in given.notes)
    fixed = plan(tmp_path / "m", None, kind="quick96", src=str(src_faces))
    assert fixed.options["face_type"] == "f" and not fixed.notes


def test_rounding_is_said_and_values_are_checked_once(tmp_path: Path) -> None:
    p = plan(tmp_path / "m", None, kind="saehd", flags={"resolution": "100", "archi": "df-u"})
    assert p.options["resolution"] == 96 and p.notes == ["resolution 100 -> 96 (saehd models need a multiple of 16)"]
    with pytest.raises(FacecompError, match=r"^--ae-dims: option ae_dims: 8 outside 32..1024"):
        plan(tmp_path / "m", None, kind="saehd", flags={"ae_dims": "8"})
    with pytest.raises(FacecompError, match="--inter-dims is not an option of saehd models"):
        plan(tmp_path / "m", None, kind="saehd", flags={"inter_dims": "64"})


def test_a_creation_time_option_cannot_change_on_resume(tmp_path: Path) -> None:
    stored = {"kind": "saehd", "options": {"resolution": 64, "archi": "liae-ud", "ae_dims": 64}, "iteration": 3}
    with pytest.raises(FacecompError, match="ae_dims is fixed when a model is created .this model: 64, asked: 128."):
        plan(tmp_path, stored, sets=["ae_dims=128"])
    assert plan(tmp_path, stored, sets=["random_warp=false"]).changed == {"random_warp": (True, False)}


def test_help_shows_the_defaults_of_the_kind(tmp_path: Path) -> None:
    amp = run_facecomp("train", "--kind", "amp", "--help").out
    assert "--inter-dims" in amp and "--archi" not in amp and "(default: 224)" in " ".join(amp.split())
    every = " ".join(run_facecomp("train", "--help").out.split())
    assert "(default: saehd 128, amp 224, quick96 96)" in every
