"""DeepFaceLab's names on the face verbs (sort --by final, extract --face-type wf) and the one error of every verb
that takes a faceset folder holding no faces."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine.faces.faceset import list_faces, read_meta
from tests.conftest import assert_clean_error, run_facecomp


def test_sort_accepts_dfl_final_names(dst_faces: Path, tmp_path: Path) -> None:
    folder = tmp_path / "aligned"
    folder.mkdir()
    for face in list_faces(dst_faces)[:6]:
        shutil.copy(face, folder / face.name)
    for dfl_name, ours in (("final", "best"), ("final-fast", "best-faster")):
        res = run_facecomp("sort", folder, "--by", dfl_name, "--target-count", "3", "--dry-run", "--json")
        assert json.loads(res.out)["method"] == ours
    res = run_facecomp("sort", folder, "--by", "finale", check=False)
    assert res.code == 2 and "argument --by: 'finale' not one of blur" in res.err
    assert "(or final, final-fast)" in res.err


def test_extract_takes_dfl_short_face_type(dst_frames: Path, tmp_path: Path) -> None:
    frame = sorted(dst_frames.iterdir())[0]
    out = tmp_path / "faces"
    run_facecomp("extract", frame, out, "--face-type", "wf", "--image-size", "128", "--max-faces", "1")
    (face,) = list_faces(out)
    assert read_meta(face).face_type == "whole_face"


@pytest.mark.parametrize("verb", [["faceset", "info"], ["faceset", "resize", "--image-size", "64"], ["sort", "--by",
                                   "blur"], ["xseg", "apply", "--generic"]])
def test_verbs_on_a_folder_without_faces(verb: list[str], tmp_path: Path) -> None:
    for folder in (tmp_path / "empty", tmp_path / "x.jpg"):
        folder.mkdir()
        (folder / "notes.txt").write_text("not a face")
        args = [*verb[:2], folder, *verb[2:]] if verb[0] in ("faceset", "xseg") else [verb[0], folder, *verb[1:]]
        assert_clean_error(run_facecomp(*args, check=False), f"no face files in {folder}")
